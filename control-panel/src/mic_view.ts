import type { ConfigAck } from '@vtuber-stt/core/turns';
import { t } from './i18n.js';
import { LatencyChart } from './latency_chart.js';
import { LevelMeter } from './level_meter.js';
import { MicDevices } from './mic_devices.js';
import { MicSettingsForm } from './mic_settings.js';
import { MicTest, type MicMode } from './mic_test.js';

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;

/**
 * The microphone card: start and stop, who ends turns, the speaking light, the input level,
 * the settings applied to this page's own session, the wait after each utterance (a chart), and
 * the utterances as they form (partial, early, final).
 */
export class MicView {
  readonly chart = new LatencyChart($<HTMLCanvasElement>('chart'));
  private readonly transcripts = $<HTMLOListElement>('transcripts');
  private readonly start = $<HTMLButtonElement>('mic-start');
  private readonly stop = $<HTMLButtonElement>('mic-stop');
  private readonly mode = $<HTMLSelectElement>('mic-mode');
  private readonly settings = new MicSettingsForm($<HTMLFormElement>('mic-settings'));
  private readonly devices = new MicDevices($<HTMLSelectElement>('set-device'));
  private readonly meter = new LevelMeter($('level'), $('level-peak'));
  private lastAck?: ConfigAck;
  /** This run's utterances by seq: early text is shown in its line until the final replaces it. */
  private lines = new Map<number, HTMLLIElement>();
  private readonly mic: MicTest;

  constructor(private readonly showError: (message: string | undefined) => void) {
    this.mic = new MicTest(this.events(), (chunk) => this.meter.push(chunk));
    this.start.addEventListener('click', () => void this.begin());
    this.stop.addEventListener('click', () => void this.end());
    this.settings.onChange((s) => this.mic.configure(s));
    // Said before anyone presses start: over plain http from another machine the browser will not open it.
    if (!window.isSecureContext) {
      const note = $('mic-note');
      note.hidden = false;
      note.dataset.i18n = 'micInsecure';
    }
  }

  /** Texts that depend on the language, drawn again after a change. */
  render(): void {
    this.renderApplied();
    this.chart.draw();
  }

  private async begin(): Promise<void> {
    this.start.disabled = true;
    this.mode.disabled = true;
    this.lines = new Map();
    this.meter.reset();
    try {
      await this.mic.start(this.mode.value as MicMode, this.settings.read());
      this.stop.disabled = false;
      // The page may use the microphone now: the browser names its devices.
      void this.devices.refresh();
    } catch {
      this.start.disabled = false;
      this.mode.disabled = false;
    }
  }

  private async end(): Promise<void> {
    this.stop.disabled = true;
    await this.mic.stop();
    this.start.disabled = false;
    this.mode.disabled = false;
  }

  private renderApplied(): void {
    const a = this.lastAck;
    const language = a?.language || 'auto';
    $('mic-applied').textContent = !a ? '' : a.turns === 'flush' ? t('appliedFlush', language) : t('applied', language, a.end_of_turn_ms, a.sentence_end_ms);
  }

  private line(seq: number): HTMLLIElement {
    let li = this.lines.get(seq);
    if (!li) {
      li = document.createElement('li');
      const text = document.createElement('span');
      text.className = 'text';
      const latency = document.createElement('span');
      latency.className = 'latency';
      li.append(text, latency);
      this.transcripts.prepend(li);
      this.lines.set(seq, li);
    }
    return li;
  }

  private events(): ConstructorParameters<typeof MicTest>[0] {
    const speaking = $<HTMLSpanElement>('speaking');
    return {
      speaking(on) {
        speaking.dataset.speaking = String(on);
        $('speaking-label').textContent = t(on ? 'speaking' : 'silent');
      },
      partial: (seq, message) => {
        if (!message.text) return;
        const li = this.line(seq);
        li.dataset.final = 'partial';
        const stable = document.createElement('span');
        stable.className = 'stable';
        stable.textContent = message.stable;
        const rest = document.createElement('span');
        rest.className = 'unstable';
        rest.textContent = message.text.slice(message.stable.length);
        li.querySelector('.text')!.replaceChildren(stable, rest);
        li.querySelector('.latency')!.textContent = t('partial');
      },
      early: (seq, message) => {
        if (!message.text) return;
        const li = this.line(seq);
        li.dataset.final = 'false';
        li.querySelector('.text')!.textContent = message.text;
        li.querySelector('.latency')!.textContent = t('early');
      },
      final: (seq, answer, latencyMs) => {
        if (answer.type === 'error') this.showError(t('serverError', answer.error));
        // An utterance with no words in it (a click taken for speech) is not shown; nor is one that failed.
        if (answer.type === 'error' || !answer.text) {
          this.lines.get(seq)?.remove();
          this.lines.delete(seq);
          return;
        }
        const li = this.line(seq);
        this.lines.delete(seq);
        li.dataset.final = 'true';
        li.dataset.waitMs = String(latencyMs);
        li.querySelector('.text')!.textContent = answer.text;
        li.querySelector('.latency')!.textContent = `${answer.language} · ${t('ms', latencyMs)}`;
        li.title = t('waitHint');
        this.chart.add(latencyMs);
      },
      applied: (ack) => {
        this.lastAck = ack;
        this.renderApplied();
      },
      error: (kind, detail) => {
        this.showError(
          kind === 'denied' ? t('micDenied') : kind === 'missing' ? t('micMissing', detail) : kind === 'insecure' ? t('micInsecure') : kind === 'lost' ? t('connectionLost', detail.split(':')[0]!, detail) : t('serverError', detail),
        );
      },
    };
  }
}
