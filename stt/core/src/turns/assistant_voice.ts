import { samplesOfMs, SAMPLE_RATE } from '../audio/format.js';
import { concatFloat32 } from '../audio/pcm.js';
import { StreamingResampler } from '../audio/resample.js';
import { createEchoCanceller, type EchoCanceller } from '../echo/index.js';
import type { AssistantPolicy, ErrorMessage } from '../protocol/messages.js';
import { repeats } from './echo_text.js';

/** What a connection does with the VTuber's own voice; service defaults, tunable per connection. */
export interface AssistantSettings {
  policy: AssistantPolicy;
  /** `ignore`: how long after the VTuber stops the microphone is still not transcribed (ms). */
  tailMs: number;
}

export const DEFAULT_ASSISTANT: AssistantSettings = { policy: 'barge_in', tailMs: 300 };

/** One thing the VTuber said, on the connection's sample clock; `to` is unset while it speaks. */
interface Line {
  text: string;
  from: number;
  to?: number;
  /** Reference audio came while it was spoken: the echo canceller, not its text, removes its echo. */
  referenced: boolean;
}

/** Lines kept for the text fallback: the VTuber's recent words, not its whole show. */
const MAX_LINES = 8;
/**
 * The text fallback looks at utterances that began up to this long after a line ended: its
 * echo, delayed by the room and the speakers' buffer, and a brain that says `end` a little early.
 */
const ECHO_AFTER = samplesOfMs(1500);

/**
 * The VTuber's own voice on one connection (issue 20 item 4), the one place that decides what it
 * changes, beside the end-of-turn policy: whether the VTuber speaks (and the tail after), its
 * recent words, and its echo canceller. All on the connection's audio clock (16 kHz samples).
 *
 * - `barge_in`: with reference audio the microphone runs through the echo canceller (created at
 *   the first reference, so a connection without any costs nothing); speech that starts while
 *   the VTuber speaks interrupts it; without reference audio, a final that repeats what the
 *   VTuber was saying is echo.
 * - `ignore`: the microphone is not heard while the VTuber speaks, nor `tailMs` after.
 * - `off`: nothing.
 */
export class AssistantVoice {
  private lines: Line[] = [];
  private canceller?: EchoCanceller;
  /** The canceller cannot be had here (no libspeexdsp): said once, then the text fallback serves. */
  private missing = false;
  private resampler?: StreamingResampler;

  constructor(
    private settings: AssistantSettings,
    /** Told once when reference audio cannot be used. */
    private readonly warn: (error: ErrorMessage) => void,
  ) {}

  get policy(): AssistantPolicy {
    return this.settings.policy;
  }

  get tailMs(): number {
    return this.settings.tailMs;
  }

  /** Whether the VTuber speaks now. */
  get speaking(): boolean {
    const last = this.lines.at(-1);
    return last !== undefined && last.to === undefined;
  }

  configure(settings: AssistantSettings): void {
    this.settings = settings;
  }

  /** The VTuber starts a line at `at`; one still running ends there. */
  start(text: string, at: number): void {
    this.end(at);
    this.lines.push({ text, from: at, referenced: false });
    if (this.lines.length > MAX_LINES) this.lines.shift();
  }

  end(at: number): void {
    const last = this.lines.at(-1);
    if (last && last.to === undefined) last.to = Math.max(at, last.from);
  }

  /** `ignore`: how many of `n` samples of microphone audio starting at `from` are not to be heard. */
  ignoredSamples(from: number, n: number): number {
    const last = this.lines.at(-1);
    if (this.settings.policy !== 'ignore' || !last) return 0;
    if (last.to === undefined) return n;
    return Math.max(0, Math.min(n, last.to + samplesOfMs(this.settings.tailMs) - from));
  }

  /**
   * `barge_in`: whether speech that starts at `at` is the streamer talking over the VTuber: `now`
   * where the line's echo was cancelled (speech is the streamer's), `on_text` where it was not
   * (the speech may be the VTuber's own voice: only text that does not repeat the line says so).
   */
  interrupts(at: number): 'now' | 'on_text' | undefined {
    if (this.settings.policy !== 'barge_in') return undefined;
    const line = this.lines.find((l) => l.from <= at && (l.to === undefined || at < l.to));
    return line ? (line.referenced ? 'now' : 'on_text') : undefined;
  }

  /**
   * `barge_in`, the text fallback: whether `text`, heard in [from, to), repeats a line the VTuber
   * was saying then, one whose echo no reference audio removed.
   */
  echoes(text: string, from: number, to: number): boolean {
    if (this.settings.policy !== 'barge_in' || !text.trim()) return false;
    return this.lines.some((l) => !l.referenced && l.from <= to && (l.to === undefined || from <= l.to + ECHO_AFTER) && repeats(text, l.text));
  }

  /**
   * What the speakers play now, s16le-decoded at `rate`: the echo canceller's reference, placed
   * at the microphone's current position. Nothing but `barge_in` uses it.
   */
  reference(pcm: Float32Array, rate: number): void {
    if (this.settings.policy !== 'barge_in' || !this.cancellerReady()) return;
    if (this.resampler?.fromRate !== rate) this.resampler = rate === SAMPLE_RATE ? undefined : new StreamingResampler(rate, SAMPLE_RATE);
    const at16k = this.resampler ? this.resampler.push(pcm) : pcm;
    try {
      this.canceller!.reference(at16k);
    } catch (error) {
      // Sent faster than it plays: this chunk is not queued; the connection and the rest go on.
      if (!(error instanceof RangeError)) throw error;
      return this.warn({ type: 'error', code: 'bad_message', error: `assistant_audio refused: ${error.message}; send the VTuber's audio as it plays` });
    }
    const last = this.lines.at(-1);
    if (last && last.to === undefined) last.referenced = true;
  }

  /** Microphone audio at 16 kHz, echo-cancelled once there is reference audio (whole canceller frames). */
  clean(mic: Float32Array): Float32Array {
    if (!this.canceller) return mic;
    if (this.settings.policy === 'barge_in') return this.canceller.process(mic);
    // The policy changed: what the canceller still holds goes first, then nothing runs through it.
    const held = this.canceller.drain();
    this.close();
    return concatFloat32([held, mic]);
  }

  /** What the canceller still holds of the microphone's audio (a flush). */
  drain(): Float32Array {
    return this.canceller?.drain() ?? new Float32Array(0);
  }

  close(): void {
    this.canceller?.close();
    this.canceller = undefined;
    this.resampler = undefined;
  }

  private cancellerReady(): boolean {
    if (this.canceller) return true;
    if (this.missing) return false;
    try {
      this.canceller = createEchoCanceller();
      return true;
    } catch (error) {
      this.missing = true;
      this.warn({
        type: 'error',
        code: 'echo_canceller_missing',
        error: `reference audio (assistant_audio) cannot be used here: ${(error as Error).message}; the VTuber's echo is dropped by its text instead`,
      });
      return false;
    }
  }
}
