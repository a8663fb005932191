import { apiKey, setMuted } from './api.js';
import { t } from './i18n.js';
import { copyText } from './share.js';

export interface SessionElements {
  view: HTMLElement;
  title: HTMLElement;
  live: HTMLElement;
  muted: HTMLElement;
  muteToggle: HTMLButtonElement;
  vtuber: HTMLElement;
  captionsUrl: HTMLInputElement;
  captionsCopy: HTMLButtonElement;
  captionsKeyNote: HTMLElement;
}

/** How long the interruption mark stays on the VTuber's badge. */
const INTERRUPTION_SHOWN_MS = 1500;

/**
 * The watched session's state: live or not, muted (with the button that mutes it, as a Stream
 * Deck key would: POST /api/sessions/:name/mute), whether the VTuber is speaking (`assistant`
 * events) and was interrupted, and the captions URL to paste into OBS.
 */
export class SessionView {
  private name = '';
  private live = false;
  private muted = false;
  private vtuberText?: string;
  private interruptedTimer?: ReturnType<typeof setTimeout>;

  constructor(
    private readonly els: SessionElements,
    private readonly onError: (message: string) => void,
  ) {
    els.muteToggle.addEventListener('click', async () => {
      els.muteToggle.disabled = true;
      try {
        await setMuted(this.name, !this.muted);
      } catch (error) {
        this.onError(t('muteFailed', (error as Error).message));
      }
      // The new state comes back as the session's own event; until then the button waits.
      this.render();
    });
    els.captionsCopy.addEventListener('click', async () => {
      await copyText(els.captionsUrl.value);
      els.captionsCopy.textContent = t('copied');
      setTimeout(() => (els.captionsCopy.textContent = t('copy')), 1500);
    });
  }

  watch(name: string): void {
    this.name = name;
    this.live = false;
    this.muted = false;
    this.vtuberText = undefined;
    this.els.view.hidden = false;
    this.els.captionsUrl.value = new URL(`captions?session=${encodeURIComponent(name)}`, location.href).toString();
    // A browser source cannot answer a key prompt: with keys on, the overlay needs one in its URL (a listen-only one).
    this.els.captionsKeyNote.hidden = !apiKey();
    this.render();
  }

  /** Returns true when a new speaking connection started on the session (its timeline restarts). */
  onMessage(m: Record<string, unknown>): boolean {
    let restarted = false;
    if (m.type === 'session') {
      restarted = m.live === true && !this.live;
      this.live = m.live === true;
      this.muted = m.muted === true;
      if (!this.live) this.vtuberText = undefined;
    } else if (m.type === 'mute') {
      this.muted = m.muted === true;
    } else if (m.type === 'assistant') {
      this.vtuberText = m.state === 'start' ? String(m.text ?? '…') : undefined;
    } else if (m.type === 'interruption') {
      this.els.vtuber.dataset.interrupted = 'true';
      clearTimeout(this.interruptedTimer);
      this.interruptedTimer = setTimeout(() => {
        delete this.els.vtuber.dataset.interrupted;
        this.render();
      }, INTERRUPTION_SHOWN_MS);
    } else return false;
    this.render();
    return restarted;
  }

  render(): void {
    const { els } = this;
    els.title.textContent = this.name;
    els.live.dataset.live = String(this.live);
    els.live.textContent = t(this.live ? 'live' : 'notLive');
    els.muted.dataset.muted = String(this.muted);
    els.muted.textContent = t(this.muted ? 'muted' : 'unmuted');
    els.muted.hidden = !this.live;
    els.muteToggle.textContent = t(this.muted ? 'unmute' : 'mute');
    els.muteToggle.disabled = !this.live;
    els.vtuber.dataset.speaking = String(this.vtuberText !== undefined);
    const interrupted = els.vtuber.dataset.interrupted === 'true' ? ` · ${t('interrupted')}` : '';
    els.vtuber.textContent = (this.vtuberText !== undefined ? t('vtuberSpeaking', this.vtuberText) : t('vtuberQuiet')) + interrupted;
  }
}
