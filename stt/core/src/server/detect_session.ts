import { SAMPLE_RATE, type PcmFormat } from '../audio/format.js';
import { StreamingResampler } from '../audio/resample.js';
import type { DetectConfigAck, DetectConfigMessage, DetectReply, ErrorMessage } from '../protocol/messages.js';
import type { SileroStream } from '../vad/silero.js';
import { releaseFor, UtteranceTracker, type TrackerSettings } from '../vad/utterance_tracker.js';
import { decodeFrame } from './frame.js';
import type { Limits } from './limits.js';
import type { Transcriber } from '../decode/transcriber.js';
import { concatFloat32 } from '../audio/pcm.js';
import { AudioLog } from '../turns/audio_log.js';
import type { Metrics } from '../metrics.js';

export type Detector = 'silero' | 'whisper' | 'hybrid';

export interface DetectSettings {
  detector: Detector;
  tracker: TrackerSettings;
  /** Hybrid: speech Whisper hears before ruling on a new segment (shorter segments are ruled at their end). */
  verifyMs: number;
  /** Whisper mode: the window Whisper judges at a time. */
  whisperWindowMs: number;
}

export const DEFAULT_DETECT: Omit<DetectSettings, 'detector' | 'tracker'> = { verifyMs: 800, whisperWindowMs: 1000 };

/** Frames of a backlog worked in one turn before the event loop serves everyone else. */
const FRAMES_PER_TURN = 16;
const nextTurn = () => new Promise<void>((resolve) => setImmediate(resolve));

/** Audio kept for Whisper's second opinion: a little before the detected start, then the segment. */
const PRE_ROLL_MS = 200;

interface Segment {
  startMs: number;
  audio: Float32Array[];
  samples: number;
  submitted: boolean;
  withdrawn: boolean;
}

/**
 * One `/ws/detect` connection. Each binary chunk gets exactly one reply, in order, as soon as
 * Silero has seen it; Whisper's opinions (hybrid, whisper modes) arrive later, off the event loop,
 * and ride on the next reply.
 */
export class DetectSession {
  private readonly tracker: UtteranceTracker;
  private readonly resampler?: StreamingResampler;
  private chain: Promise<unknown> = Promise.resolve();
  /** Frames received and not yet answered, and how many were worked since this session last yielded. */
  private backlog = 0;
  private sinceYield = 0;
  private processedMs = 0;
  /** Recent audio (hybrid), to reach back to a speech start and its pre-roll. */
  private readonly recent = new AudioLog();
  /** Samples `recent` stands for: what keepRecent last asked it to keep (it keeps whole chunks, so maybe more). */
  private recentKeep = 0;
  private segment?: Segment;
  private readonly pending: Partial<DetectReply>[] = [];
  private readonly abort = new AbortController();
  // whisper mode
  private window: Float32Array[] = [];
  private windowSamples = 0;
  private windowStartMs = 0;
  private whisperSpeaking = false;

  constructor(
    private readonly vad: SileroStream | undefined,
    private readonly settings: DetectSettings,
    private readonly format: PcmFormat,
    private readonly limits: Limits,
    private readonly verifier?: Transcriber,
    private readonly metrics?: Metrics,
  ) {
    this.tracker = new UtteranceTracker({ ...settings.tracker });
    if (format.sampleRate !== SAMPLE_RATE) this.resampler = new StreamingResampler(format.sampleRate, SAMPLE_RATE);
  }

  /**
   * Replies resolve in arrival order: each chunk waits for the one before it. A client that sends
   * faster than it is answered (20,000 tiny frames at once) has its backlog worked in short turns,
   * each followed by a pass of the event loop, so every other connection is served in between.
   */
  process(frame: Uint8Array): Promise<DetectReply | ErrorMessage> {
    this.backlog++;
    const next = this.chain
      .then(async () => {
        if (this.backlog > 1 && ++this.sinceYield >= FRAMES_PER_TURN) {
          this.sinceYield = 0;
          await nextTurn();
        }
        return this.handle(frame);
      })
      .finally(() => this.backlog--);
    this.chain = next.catch(() => undefined);
    return next;
  }

  configure(message: DetectConfigMessage): DetectConfigAck | ErrorMessage {
    const t = { ...this.tracker.settings };
    if (message.threshold !== undefined) t.threshold = message.threshold;
    if (message.neg_threshold !== undefined) t.negThreshold = message.neg_threshold;
    else if (message.threshold !== undefined) t.negThreshold = releaseFor(t.threshold);
    if (message.min_speech_ms !== undefined) t.minSpeechMs = message.min_speech_ms;
    if (message.hangover_ms !== undefined) t.hangoverMs = message.hangover_ms;
    if (t.negThreshold > t.threshold) {
      return { type: 'error', code: 'bad_message', error: `neg_threshold (${t.negThreshold}) must not exceed threshold (${t.threshold})` };
    }
    this.tracker.settings = t;
    return {
      type: 'config',
      detector: this.settings.detector,
      threshold: t.threshold,
      neg_threshold: t.negThreshold,
      min_speech_ms: t.minSpeechMs,
      hangover_ms: t.hangoverMs,
    };
  }

  close(): void {
    this.abort.abort();
  }

  private async handle(frame: Uint8Array): Promise<DetectReply | ErrorMessage> {
    const decoded = decodeFrame(frame, this.format, this.limits);
    if (!(decoded instanceof Float32Array)) return decoded;
    let pcm = decoded;
    if (this.resampler) pcm = this.resampler.push(pcm);
    const reply: DetectReply = { type: 'detect', speech_detected: false, offset_ms: 0 };
    if (this.settings.detector === 'whisper') this.whisperStep(pcm, reply);
    else await this.sileroStep(pcm, reply);
    this.processedMs += (pcm.length / SAMPLE_RATE) * 1000;
    reply.offset_ms = Math.round(this.processedMs);
    // Opinions that arrived since the last reply.
    for (const extra of this.pending.splice(0)) Object.assign(reply, extra);
    return reply;
  }

  private async sileroStep(pcm: Float32Array, reply: DetectReply): Promise<void> {
    const probabilities = await this.vad!.push(pcm);
    const hybrid = this.settings.detector === 'hybrid';
    if (hybrid) {
      this.keepRecent(pcm);
      const open = this.segment;
      if (open && !open.submitted) {
        open.audio.push(pcm);
        open.samples += pcm.length;
      }
    }
    const chunkEndMs = this.processedMs + (pcm.length / SAMPLE_RATE) * 1000;
    let detected = false;
    let max = 0;
    for (const p of probabilities) {
      max = Math.max(max, p);
      const event = this.tracker.push(p);
      if (event?.type === 'speech_start') {
        reply.speech_start = event.offset_ms;
        if (hybrid) this.openSegment(event.offset_ms, chunkEndMs);
      } else if (event?.type === 'speech_end') {
        // A withdrawn segment never had a start as far as the client is concerned.
        if (!this.segment?.withdrawn) reply.speech_end = event.offset_ms;
        this.closeSegment();
      }
      detected ||= this.tracker.speechNow || event?.type === 'speech_start';
    }
    const seg = this.segment;
    if (seg && !seg.submitted && (seg.samples / SAMPLE_RATE) * 1000 >= this.settings.verifyMs + PRE_ROLL_MS) this.submit(seg);
    reply.probability = Number(max.toFixed(3));
    reply.speech_detected = detected && !(this.segment?.withdrawn ?? false);
  }

  /** The last few seconds of audio, enough to reach back to a start confirmed late. */
  private keepRecent(pcm: Float32Array): void {
    this.recentKeep = Math.round(((PRE_ROLL_MS + this.tracker.settings.minSpeechMs + 1000) / 1000) * SAMPLE_RATE) + pcm.length;
    this.recent.push(pcm);
    this.recent.trimBefore(this.recent.end - this.recentKeep);
  }

  /** `recent` ends at chunkEndMs; the segment starts a pre-roll before startMs. */
  private openSegment(startMs: number, chunkEndMs: number): void {
    const { start, end } = this.recent;
    const back = Math.min(end - start, this.recentKeep, Math.round(((chunkEndMs - startMs + PRE_ROLL_MS) / 1000) * SAMPLE_RATE));
    const head = this.recent.range(end - back, end);
    this.segment = { startMs, audio: [head], samples: head.length, submitted: false, withdrawn: false };
  }

  private closeSegment(): void {
    const seg = this.segment;
    if (seg && !seg.submitted) this.submit(seg);
    this.segment = undefined;
  }

  private submit(seg: Segment): void {
    seg.submitted = true;
    if (!this.verifier) return;
    // Last in the shedding order, but optional all the same: with finals waiting, Silero's
    // decision stands unchecked rather than the check adding to their wait.
    if (this.verifier.queue.shouldShed()) {
      seg.audio = [];
      this.metrics?.shed.inc({ kind: 'detector' });
      return;
    }
    const audio = concatFloat32(seg.audio, seg.samples);
    seg.audio = [];
    this.verifier.transcribe(audio, {}, this.abort.signal, undefined, 'background').then(
      (result) => {
        if (result.text) {
          this.pending.push({ speech_confirmed: seg.startMs, text: result.text });
        } else {
          seg.withdrawn = true;
          this.pending.push({ speech_withdrawn: seg.startMs });
        }
      },
      // Overload or a closed connection: Silero's decision stands.
      () => undefined,
    );
  }

  private whisperStep(pcm: Float32Array, reply: DetectReply): void {
    reply.speech_detected = this.whisperSpeaking;
    this.window.push(pcm);
    this.windowSamples += pcm.length;
    if ((this.windowSamples / SAMPLE_RATE) * 1000 < this.settings.whisperWindowMs) return;
    const audio = concatFloat32(this.window, this.windowSamples);
    const startMs = Math.round(this.windowStartMs);
    this.windowStartMs += (this.windowSamples / SAMPLE_RATE) * 1000;
    this.window = [];
    this.windowSamples = 0;
    this.verifier?.transcribe(audio, {}, this.abort.signal, undefined, 'background').then(
      (result) => {
        const speaking = result.text !== '';
        if (speaking === this.whisperSpeaking) return;
        this.whisperSpeaking = speaking;
        this.pending.push(speaking ? { speech_start: startMs, speech_detected: true } : { speech_end: startMs, speech_detected: false });
      },
      () => undefined,
    );
  }
}
