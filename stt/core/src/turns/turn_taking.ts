import type { RequestOptions, Transcript, Transcriber } from '../decode/transcriber.js';
import type { Metrics } from '../metrics.js';
import { codeOf } from '../protocol/errors.js';
import type { ErrorMessage, TranscribeServerMessage, TranscriptMessage, TurnMode } from '../protocol/messages.js';
import type { SileroStream } from '../vad/silero.js';
import type { AssistantVoice } from './assistant_voice.js';
import type { AudioLog } from './audio_log.js';
import type { SessionLanguage } from './session_language.js';
import type { TurnSettings } from './settings.js';
import { Utterance } from './utterance.js';


export function errorOf(error: unknown): ErrorMessage {
  return { type: 'error', error: error instanceof Error ? error.message : String(error), code: codeOf(error) };
}

/** Finals (and the errors that stand for them) leave in seq order, whichever decode ends first. */
export class FinalQueue {
  private last: Promise<unknown> = Promise.resolve();

  constructor(private readonly emit: (message: TranscribeServerMessage) => void) {}

  /** `sent`: called with the answer right after it went out (what follows a final goes behind it). */
  add(seq: number, make: () => Promise<TranscriptMessage>, sent?: (answer: TranscriptMessage | ErrorMessage) => void): void {
    const previous = this.last;
    this.last = make().then(
      async (message) => {
        await previous;
        this.emit(message);
        sent?.(message);
      },
      async (error: unknown) => {
        await previous;
        const answer: ErrorMessage = { ...errorOf(error), seq };
        this.emit(answer);
        sent?.(answer);
      },
    );
  }
}

/** What a connection lends its turn taking: its audio, its engine, its settings and its outbox. */
export interface TurnContext {
  /** The connection's 16 kHz audio on its sample clock. */
  readonly log: AudioLog;
  readonly transcriber: Transcriber;
  /** Aborted when the client leaves. */
  readonly signal: AbortSignal;
  readonly metrics?: Metrics;
  /** The connection's language memory (auto): shared by its utterances. */
  readonly language?: SessionLanguage;
  readonly finals: FinalQueue;
  /** The VTuber's own voice on this connection: what its speech changes (interruptions, echo). */
  readonly assistant: AssistantVoice;
  emit(message: TranscribeServerMessage): void;
  /** Runs after everything queued before it (VAD windows, flushes: the connection's order). */
  enqueue(step: () => Promise<void>): void;
  /** A fresh Silero stream, or none where speech is not detected. */
  newVad(): SileroStream | undefined;
  /** The connection's decode options now. */
  options(): Required<RequestOptions>;
  settings(): TurnSettings;
  /** Whether speculative text goes out early (`final: false`). */
  early(): boolean;
  /** Whether `heard` messages go out (server turns). */
  heard(): boolean;
  /**
   * A new stretch of client audio: the resampler starts afresh; `drain`: what it still holds of
   * the last stretch joins the log first.
   */
  newStretch(drain: boolean): void;
}

/** Who ends the utterances of a connection, behind one interface: the client (`flush`) or the server (`server`). */
export interface TurnTaking {
  readonly mode: TurnMode;
  /** Audio of the utterance in progress (samples). */
  readonly bufferedSamples: number;
  /** Audio held for this connection, what STT_MAX_BUFFER_SECONDS bounds (samples). */
  readonly heldSamples: number;
  /** Whether any audio of the current stretch was heard (the format may change only before). */
  readonly heard: boolean;
  /** 16 kHz audio just added to the log; its first `unheard` samples stand in for audio nobody may hear (muted): no VAD runs on them. */
  push(pcm: Float32Array, unheard?: number): void;
  /** `<flush>`: ends the utterance in progress now; one final follows. */
  flush(receivedAt: number): void;
  /** Discards the audio of the utterance in progress. */
  reset(): void;
  /** Muted: the turn in progress ends now (server turns: answered; flush: discarded, as no flush asked). */
  mute(receivedAt: number): void;
  /** What stands in for `samples` of audio heard while muted: silence on the timeline, or nothing. */
  whileMuted(samples: number): Float32Array | undefined;
  /** The client's audio format changed (nothing heard yet): fresh speech state. */
  restart(): void;
  /** The connection's turn settings changed. */
  configure(): void;
  /** Live partials on or off (server turns only). */
  partials: boolean;
  /** `turn` events on or off (server turns only). */
  turnEvents: boolean;
  /** Drops the utterance in progress (the mode is replaced, or the client left). */
  cancel(): void;
}

/** What both modes share: numbering utterances, decoding their finals, early text. */
export abstract class TurnTaker {
  protected seq = 0;
  protected current?: Utterance;
  protected vad?: SileroStream;

  constructor(protected readonly ctx: TurnContext) {}

  cancel(): void {
    this.current?.cancel();
    this.current = undefined;
  }

  protected open(from: number, seq = ++this.seq): Utterance {
    const ctx = this.ctx;
    const utterance: Utterance = new Utterance(
      seq,
      from,
      ctx.transcriber,
      () => ctx.options(),
      ctx.signal,
      // Early text that repeats the VTuber's words is its echo: no listener acts on it.
      (t) => {
        if (ctx.assistant.echoes(t.text, utterance.from, ctx.log.end)) return;
        this.heardWords(utterance.seq, t.text);
        this.onSpeculative(utterance, t);
      },
      ctx.metrics,
      ctx.language,
    );
    utterance.partials = this.partialHooks(utterance);
    return utterance;
  }

  protected partialHooks(_u: Utterance): Utterance['partials'] {
    return undefined;
  }

  /** The final for `u`: decoded (or taken from its speculative decode), sent in seq order. */
  protected finish(
    u: Utterance,
    upTo: number,
    receivedAt: number,
    shape: (message: TranscriptMessage) => void,
    sent?: (answer: TranscriptMessage | ErrorMessage) => void,
  ): void {
    const { log, transcriber, metrics } = this.ctx;
    this.ctx.finals.add(u.seq, async () => {
      const decoding = u.final(log, upTo);
      this.decodeStarted(upTo);
      const result = await decoding;
      const transcript: Transcript = result?.transcript ?? { ...transcriber.empty(upTo - u.from, u.options()), dropped: 'no_speech' };
      const message: TranscriptMessage = {
        type: 'transcript',
        seq: u.seq,
        final: true,
        ...transcript,
        latency_ms: Math.round(performance.now() - receivedAt),
        speculative: result?.speculative ?? 'none',
      };
      if (result) metrics?.queueWait.observe(transcript.queue_ms / 1000);
      // The VTuber heard through the microphone, its words repeated: not the streamer's.
      if (this.ctx.assistant.echoes(message.text, u.from, upTo)) Object.assign(message, { text: '', segments: [], dropped: 'echo' as const });
      else this.heardWords(u.seq, message.text);
      shape(message);
      return message;
    }, sent);
  }

  /** Text of `seq` that is not the VTuber's echo (early text, a partial, the final). */
  protected heardWords(_seq: number, _text: string): void {}

  /** The final's decode has its audio: what only it needed may go. */
  protected decodeStarted(_upTo: number): void {}

  protected emptyFinal(seq: number, receivedAt: number): TranscriptMessage {
    return { type: 'transcript', seq, final: true, ...this.ctx.transcriber.empty(0, this.ctx.options()), latency_ms: Math.round(performance.now() - receivedAt), speculative: 'none' };
  }

  /** Speculative text: sent early when asked for (`final: false`). */
  protected onSpeculative(u: Utterance, t: Transcript): void {
    if (!this.ctx.early()) return;
    const message: TranscriptMessage = { type: 'transcript', seq: u.seq, final: false, ...t, latency_ms: 0 };
    this.placeEarly(message, u);
    this.ctx.emit(message);
  }

  protected placeEarly(_message: TranscriptMessage, _u: Utterance): void {}
}
