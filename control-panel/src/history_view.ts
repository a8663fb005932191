import { t } from './i18n.js';
import { copyText, download } from './share.js';
import { clockTime, toSrt, toText, TranscriptHistory, type FinalLine, type HistoryEntry } from './transcript_history.js';

export interface HistoryElements {
  list: HTMLOListElement;
  empty: HTMLElement;
  live: HTMLElement;
  copy: HTMLButtonElement;
  clear: HTMLButtonElement;
  exportText: HTMLButtonElement;
  exportSrt: HTMLButtonElement;
}

/** Lines drawn at once; the history itself keeps more, and exports all of it. */
const SHOWN = 300;

/**
 * The watched session's transcript: its finals with the time each arrived, newest first; the
 * turn in progress (partial or early text) above them; copy, clear, and export as text or SRT.
 * The wait shown per line is an estimate (a listener does not have the speaker's audio clock):
 * the silence the service waited on the session's timeline (speech_end's decided_ms - end_ms)
 * plus the time from speech_end to the final here.
 */
export class HistoryView {
  private history = new TranscriptHistory();
  private session = '';
  /** Per seq: when its speech_end arrived, and the silence it says was waited. */
  private readonly ends = new Map<number, { arrived: number; silenceMs: number }>();

  constructor(private readonly els: HistoryElements) {
    els.copy.addEventListener('click', () => void copyText(toText(this.history.entries)));
    els.clear.addEventListener('click', () => {
      this.history.clear();
      this.render();
    });
    els.exportText.addEventListener('click', () => download(this.fileName('txt'), toText(this.history.entries), 'text/plain'));
    els.exportSrt.addEventListener('click', () => download(this.fileName('srt'), toSrt(this.history.entries), 'application/x-subrip'));
  }

  /** Another session is watched: its history starts empty. */
  reset(session: string): void {
    this.session = session;
    this.history = new TranscriptHistory();
    this.ends.clear();
    this.showLive(undefined);
    this.render();
  }

  /** A new speaking connection on the session: its audio timeline starts again. */
  newTimeline(): void {
    this.history.newTimeline();
  }

  onEvent(m: Record<string, unknown>): void {
    const seq = m.seq as number;
    if (m.type === 'speech_end') {
      this.ends.set(seq, { arrived: performance.now(), silenceMs: Math.max(0, (m.decided_ms as number) - (m.end_ms as number)) });
    } else if (m.type === 'partial') {
      this.showLive(m.text as string);
    } else if (m.type === 'transcript' && m.final === false) {
      this.showLive(m.text as string);
    } else if ((m.type === 'transcript' && m.final !== false) || (m.type === 'error' && typeof m.seq === 'number')) {
      this.showLive(undefined);
      const end = this.ends.get(seq);
      this.ends.delete(seq);
      if (m.type !== 'transcript' || !m.text) return;
      const wait = end ? Math.round(end.silenceMs + performance.now() - end.arrived) : undefined;
      const entry = this.history.add(m as unknown as FinalLine, new Date(), wait);
      this.els.list.prepend(this.line(entry));
      this.els.list.querySelectorAll('li')[SHOWN]?.remove();
      this.els.empty.hidden = true;
    }
  }

  /** Redrawn whole (a language change, a clear). */
  render(): void {
    this.els.list.replaceChildren(...this.history.entries.slice(-SHOWN).reverse().map((e) => this.line(e)));
    this.els.empty.hidden = this.history.entries.length > 0;
  }

  private line(e: HistoryEntry): HTMLLIElement {
    const li = document.createElement('li');
    li.dataset.seq = String(e.seq);
    const time = document.createElement('time');
    time.dateTime = e.at.toISOString();
    time.textContent = clockTime(e.at);
    const text = document.createElement('span');
    text.className = 'text';
    text.textContent = e.text;
    li.append(time, text);
    if (e.waitMs !== undefined) {
      const wait = document.createElement('span');
      wait.className = 'wait';
      wait.textContent = t('estimatedWait', e.waitMs);
      wait.title = t('estimatedWaitHint');
      li.append(wait);
    }
    return li;
  }

  private showLive(text: string | undefined): void {
    this.els.live.hidden = !text;
    this.els.live.textContent = text ?? '';
  }

  private fileName(ext: string): string {
    const d = new Date();
    const day = `${d.getFullYear()}-${String(d.getMonth() + 1).padStart(2, '0')}-${String(d.getDate()).padStart(2, '0')}`;
    return `${this.session}-${day}.${ext}`;
  }
}
