import { SAMPLE_RATE, type Encoding, type PcmFormat } from '../audio/format.js';
import { StreamingResampler } from '../audio/resample.js';
import type {
  ConfigAck,
  ConfigMessage,
  ErrorMessage,
  PartialMessage,
  ResetAck,
  TranscribeServerMessage,
  TranscriptMessage,
  TurnMode,
} from '../protocol/messages.js';
import { shiftSegments } from '../protocol/segment_times.js';
import { AudioLog, WindowLog } from '../turns/audio_log.js';
import { LocalAgreement } from '../turns/local_agreement.js';
import { Segmenter, type SegmentAction } from '../turns/segmenter.js';
import { endsSentence } from '../turns/sentence_end.js';
import { applyTurnFields, turnFieldsOf, type TurnSettings } from '../turns/settings.js';
import { Utterance } from '../turns/utterance.js';
import { WINDOW, type SileroStream } from '../vad/silero.js';
import { DEFAULT_TRACKER, releaseFor, UtteranceTracker } from '../vad/utterance_tracker.js';
import { codeOf } from '../protocol/errors.js';
import { decodeFrame } from './frame.js';
import type { Limits } from './limits.js';
import type { Metrics } from './metrics.js';
import type { RequestOptions, Transcript, Transcriber } from './transcriber.js';

function errorOf(error: unknown): ErrorMessage {
  return { type: 'error', error: error instanceof Error ? error.message : String(error), code: codeOf(error) };
}

export interface SessionOptions {
  turns: TurnMode;
  early: boolean;
  /** Live partials (server turns only). */
  partials?: boolean;
  settings: TurnSettings;
}

const ms = (samples: number) => Math.round((samples / SAMPLE_RATE) * 1000);
const samplesOf = (milliseconds: number) => Math.round((milliseconds / 1000) * SAMPLE_RATE);

/**
 * One `/ws/transcribe` connection. Audio is decoded and brought to 16 kHz as it arrives and runs
 * through this connection's Silero stream, window by window, so the work after the end of a turn
 * is only the decode, and often not even that: a pause starts a speculative decode whose result
 * becomes the final when the turn ends with nothing but silence added.
 *
 * `flush` mode (protocol v1): the client ends each utterance with `<flush>`. `server` mode: the
 * utterance tracker and the segmenter end them, with events. Transport-free: messages go to `emit`.
 */
export class TranscribeSession {
  private format: PcmFormat;
  private resampler?: StreamingResampler;
  private readonly log = new AudioLog();
  private readonly windows = new WindowLog();
  private vad?: SileroStream;
  private tracker: UtteranceTracker;
  private readonly segmenter: Segmenter;
  /** Per-connection processing order: VAD windows, then flushes, as they arrived. */
  private chain: Promise<void> = Promise.resolve();
  /** Finals leave in seq order. */
  private replies: Promise<unknown> = Promise.resolve();
  private seq = 0;
  private current?: Utterance;
  /** Flush mode: where the audio since the last flush begins. */
  private flushFrom = 0;
  private options: Required<RequestOptions>;
  private mode: TurnMode;
  private early: boolean;
  private partials: boolean;
  private turn: TurnSettings;
  private readonly abort = new AbortController();

  constructor(
    private readonly transcriber: Transcriber,
    private readonly limits: Limits,
    format: PcmFormat,
    private readonly newVadStream: (() => SileroStream) | undefined,
    private readonly emit: (message: TranscribeServerMessage) => void,
    options: SessionOptions,
    private readonly metrics?: Metrics,
  ) {
    this.format = format;
    this.options = transcriber.options();
    this.mode = options.turns;
    this.early = options.early;
    this.partials = options.partials ?? false;
    this.turn = options.settings;
    if (this.mode === 'server' && !this.hearsTurns) throw Object.assign(new Error(SERVER_NEEDS_VAD), { code: 'bad_message' });
    if (this.partials && this.mode !== 'server') throw Object.assign(new Error(PARTIALS_NEED_SERVER_TURNS), { code: 'bad_message' });
    this.tracker = new UtteranceTracker(this.trackerSettings());
    this.segmenter = new Segmenter(this.segmenterSettings());
    this.restartAudio();
  }

  get bufferedMs(): number {
    return ms(this.log.end - (this.mode === 'server' ? (this.current?.from ?? this.log.end) : this.flushFrom));
  }

  /** Appends a binary frame; returns an error reply when the frame is refused (nothing is buffered then). */
  append(frame: Uint8Array): ErrorMessage | undefined {
    const decoded = decodeFrame(frame, this.format, this.limits);
    if (!(decoded instanceof Float32Array)) return decoded;
    const incoming = Math.ceil((decoded.length * SAMPLE_RATE) / this.format.sampleRate);
    const held = this.log.end - (this.mode === 'server' ? this.log.start : this.flushFrom);
    if (held + incoming > this.limits.maxBufferSeconds * SAMPLE_RATE) {
      return {
        type: 'error',
        code: 'buffer_full',
        error: `buffer limit of ${this.limits.maxBufferSeconds} s reached (STT_MAX_BUFFER_SECONDS): this frame was not added; send <flush> to transcribe what is buffered`,
      };
    }
    const pcm = this.resampler ? this.resampler.push(decoded) : decoded;
    if (pcm.length === 0) return undefined;
    this.log.push(pcm);
    this.metrics?.audioSeconds.inc(pcm.length / SAMPLE_RATE);
    const vad = this.vad;
    if (!vad) return undefined;
    if (this.mode === 'server') this.enqueue(async () => this.onServerWindows(await vad.push(pcm)));
    else {
      // The windows belong to the utterance open now, whatever a later flush opens meanwhile.
      const u = this.current!;
      const tracker = this.tracker;
      this.enqueue(async () => this.onFlushWindows(await vad.push(pcm), u, tracker));
    }
    return undefined;
  }

  /** `<flush>`: ends the utterance in progress now; its final (one per flush) follows. */
  flush(receivedAt = performance.now()): void {
    if (this.mode === 'flush' && this.resampler) this.log.push(this.resampler.end());
    const upTo = this.log.end;
    if (this.mode === 'flush') {
      const utterance = this.current!;
      this.flushFrom = upTo;
      // Audio after the flush is a new utterance with a fresh VAD stream and resampler.
      this.restartAudio();
      this.enqueue(async () => this.finish(utterance, upTo, receivedAt, 'flush'));
      return;
    }
    this.enqueue(async () => {
      const actions = this.segmenter.finish(upTo);
      for (const a of actions) this.act(a, receivedAt, 'flush');
      if (!actions.some((a) => a.type === 'end')) this.finishEmpty(receivedAt);
      this.tracker.interrupt();
    });
  }

  configure(message: ConfigMessage): ConfigAck | ErrorMessage {
    const formatChange = message.sample_rate !== undefined || message.encoding !== undefined;
    const heard = this.mode === 'server' ? this.log.end > 0 : this.log.end > this.flushFrom;
    if (formatChange && heard) {
      return { type: 'error', code: 'bad_message', error: `cannot change sample_rate or encoding with ${this.bufferedMs} ms buffered; send <flush> or reset first` };
    }
    if (message.turns !== undefined && message.turns !== this.mode) {
      if (this.log.end > 0) return { type: 'error', code: 'bad_message', error: 'turns can only be chosen before any audio is sent' };
      if (message.turns === 'server' && !this.hearsTurns) return { type: 'error', code: 'bad_message', error: SERVER_NEEDS_VAD };
    }
    const nextMode = message.turns ?? this.mode;
    if ((message.partials ?? this.partials) && nextMode !== 'server') return { type: 'error', code: 'bad_message', error: PARTIALS_NEED_SERVER_TURNS };
    const turn = applyTurnFields(this.turn, message);
    if (turn.maxUtteranceMs > this.limits.maxBufferSeconds * 1000) {
      return { type: 'error', code: 'bad_message', error: `max_utterance_ms must not exceed the buffer limit of ${this.limits.maxBufferSeconds} s (STT_MAX_BUFFER_SECONDS)` };
    }
    if (message.language !== undefined) this.options.language = message.language;
    if (message.prompt !== undefined) this.options.prompt = message.prompt;
    if (message.translate !== undefined) this.options.translate = message.translate;
    if (message.word_timestamps !== undefined) this.options.word_timestamps = message.word_timestamps;
    if (message.early !== undefined) this.early = message.early;
    if (message.partials !== undefined && message.partials !== this.partials) {
      this.partials = message.partials;
      if (this.current) this.current.partials = this.partialHooks(this.current);
    }
    if (message.turns !== undefined && message.turns !== this.mode) {
      this.mode = message.turns;
      this.current?.cancel();
      this.current = undefined;
      this.seq = 0;
      this.restartAudio();
    }
    this.turn = turn;
    this.tracker.settings = this.trackerSettings();
    this.segmenter.settings = this.segmenterSettings();
    if (formatChange) {
      this.format = { ...this.format, sampleRate: message.sample_rate ?? this.format.sampleRate, encoding: (message.encoding ?? this.format.encoding) as Encoding };
      // Flush mode: the empty utterance is reopened under the same seq (no flush answered it).
      const open = this.mode === 'flush' ? this.current : undefined;
      open?.cancel();
      this.restartAudio(open?.seq);
    }
    return {
      type: 'config',
      ...this.options,
      sample_rate: this.format.sampleRate,
      encoding: this.format.encoding,
      turns: this.mode,
      early: this.early,
      partials: this.partials,
      word_timestamps: this.options.word_timestamps,
      ...turnFieldsOf(this.turn),
    };
  }

  /** Discards the audio of the utterance in progress (server mode: its seq is answered, empty). */
  reset(): ResetAck {
    const discarded = this.bufferedMs;
    const open = this.current;
    this.current = undefined;
    open?.cancel();
    if (this.mode === 'flush') {
      this.flushFrom = this.log.end;
      this.restartAudio(open?.seq);
    } else if (open) {
      this.tracker.interrupt();
      this.segmenter.finish(this.log.end);
      this.reply(open.seq, async () => ({ ...this.emptyFinal(open.seq, performance.now()), dropped: 'reset' as const }));
    }
    return { type: 'reset', discarded_ms: discarded };
  }

  /** The client left: queued work for it is dropped, running work is discarded when it ends. */
  close(): void {
    this.current?.cancel();
    this.abort.abort();
  }

  private get hearsTurns(): boolean {
    return this.newVadStream !== undefined && this.transcriber.gatesSpeech;
  }

  private enqueue(step: () => Promise<void>): void {
    this.chain = this.chain.then(step).catch((error: unknown) => {
      this.emit({ ...errorOf(error), error: `speech detection failed: ${(error as Error).message}` });
    });
  }

  /**
   * A new stretch of audio: fresh VAD state and resampler (flush mode: each flush, whose utterance
   * opens at once so that it owns the windows to come; any mode: a format change). A reset keeps
   * the seq its utterance had: no flush answered it.
   */
  private restartAudio(keepSeq?: number): void {
    this.vad = this.hearsTurns ? this.newVadStream!() : undefined;
    this.resampler = this.format.sampleRate === SAMPLE_RATE ? undefined : new StreamingResampler(this.format.sampleRate, SAMPLE_RATE);
    if (this.mode === 'flush') {
      this.tracker = new UtteranceTracker(this.trackerSettings());
      this.current = this.open(this.flushFrom, keepSeq);
    }
  }

  private trackerSettings() {
    const t = this.turn;
    return { threshold: t.threshold, negThreshold: releaseFor(t.threshold), minSpeechMs: t.minSpeechMs, hangoverMs: t.endOfTurnMs, frameHoldMs: DEFAULT_TRACKER.frameHoldMs };
  }

  private segmenterSettings() {
    return { preRoll: samplesOf(this.turn.preRollMs), maxLength: samplesOf(this.turn.maxUtteranceMs), hangover: 0 };
  }

  private open(from: number, seq = ++this.seq): Utterance {
    const utterance: Utterance = new Utterance(
      seq,
      from,
      this.transcriber,
      () => this.options,
      this.abort.signal,
      (t) => this.onSpeculative(utterance, t),
      this.metrics,
    );
    utterance.partials = this.partialHooks(utterance);
    return utterance;
  }

  /**
   * Interim text for `u` while it runs, each decode passed through the utterance's own
   * LocalAgreement-2, so `stable` only grows within a seq. Nothing is sent once it has ended:
   * the utterance stops calling back when its final is asked for.
   */
  private partialHooks(u: Utterance): Utterance['partials'] {
    if (!this.partials || this.mode !== 'server') return undefined;
    const agreement = new LocalAgreement();
    let last: PartialMessage | undefined;
    return {
      intervalSamples: samplesOf(this.turn.partialIntervalMs),
      onText: (t) => {
        if (!t.text.trim() || this.current !== u) return;
        const { stable, text } = agreement.push(t.text);
        if (last && last.stable === stable && last.text === text) return;
        last = { type: 'partial', seq: u.seq, text, stable, language: t.language, audio_ms: t.audio_ms, inference_ms: t.inference_ms };
        this.emit(last);
      },
    };
  }

  /** Flush mode: the tracker only measures pauses (for speculation); the client ends utterances. */
  private onFlushWindows(probabilities: number[], u: Utterance, tracker: UtteranceTracker): void {
    for (const p of probabilities) {
      u.probs.push(p);
      tracker.push(p);
    }
    if (tracker.inSpeech) u.step(this.log, u.from + u.probs.length * WINDOW, tracker.silenceMs, this.turn);
  }

  private onServerWindows(probabilities: number[]): void {
    for (const p of probabilities) this.onServerWindow(p);
    // Nothing reaches further back than a pre-roll before a start confirmed after min_speech_ms.
    const keep = this.current?.from ?? this.windows.end * WINDOW - samplesOf(this.turn.preRollMs + this.turn.minSpeechMs + 1000);
    this.log.trimBefore(keep);
    this.windows.trimBefore(Math.floor(keep / WINDOW));
  }

  private onServerWindow(p: number): void {
    const w = this.windows.end;
    this.windows.push(p);
    this.current?.probs.push(p);
    const event = this.tracker.push(p);
    if (this.tracker.silenceMs === 0) this.tracker.settings.hangoverMs = this.turn.endOfTurnMs; // speech again: the long wait
    const to = (w + 1) * WINDOW;
    const actions = this.segmenter.update({
      to,
      start: event?.type === 'speech_start' ? samplesOf(event.offset_ms) : undefined,
      end: event?.type === 'speech_end' ? samplesOf(event.offset_ms) : undefined,
    });
    for (const a of actions) this.act(a, performance.now(), 'silence');
    if (this.current && this.tracker.inSpeech) this.current.step(this.log, to, this.tracker.silenceMs, this.turn);
  }

  private act(a: SegmentAction, at: number, endedBy: 'silence' | 'flush'): void {
    if (a.type === 'start') {
      const u = this.open(a.from);
      u.probs.push(...this.windows.slice(Math.floor(a.from / WINDOW)));
      this.current = u;
      this.emit({ type: 'speech_start', seq: u.seq, start_ms: ms(a.at) });
    } else if (a.type === 'end' && this.current) {
      const u = this.current;
      this.current = undefined;
      const upTo = a.reason === 'finish' ? this.log.end : Math.min(this.log.end, (this.windows.end) * WINDOW);
      const reason = a.reason === 'max_length' ? 'max_length' : endedBy;
      this.emit({ type: 'speech_end', seq: u.seq, end_ms: ms(a.end), decided_ms: ms(upTo) });
      this.finish(u, upTo, at, reason, { start: a.start, end: a.end });
    }
  }

  /** The final for an utterance: decoded (or taken from its speculative decode), sent in seq order. */
  private finish(u: Utterance, upTo: number, receivedAt: number, endedBy: 'silence' | 'flush' | 'max_length', speech?: { start: number; end: number }): void {
    const server = this.mode === 'server';
    this.reply(u.seq, async () => {
      const decoding = u.final(this.log, upTo);
      if (!server) this.log.trimBefore(upTo);
      const result = await decoding;
      const transcript: Transcript = result?.transcript ?? { ...this.transcriber.empty(upTo - u.from, u.options()), dropped: 'no_speech' };
      const message: TranscriptMessage = {
        type: 'transcript',
        seq: u.seq,
        final: true,
        ...transcript,
        latency_ms: Math.round(performance.now() - receivedAt),
        speculative: result?.speculative ?? 'none',
      };
      if (result) this.metrics?.queueWait.observe(transcript.queue_ms / 1000);
      if (server) {
        // On the connection's timeline, like the events.
        this.onTimeline(message, u.from);
        message.start_ms = speech ? ms(speech.start) : ms(u.from);
        message.end_ms = speech ? ms(speech.end) : ms(upTo);
        message.ended_by = endedBy;
      }
      return message;
    });
  }

  /** Server mode: segment, word and decoded times on the connection's timeline, like every other offset there. */
  private onTimeline(message: TranscriptMessage, from: number): void {
    const base = ms(from);
    message.segments = shiftSegments(message.segments, base);
    if (message.decoded_ms) message.decoded_ms = [message.decoded_ms[0] + base, message.decoded_ms[1] + base];
  }

  private finishEmpty(receivedAt: number): void {
    const seq = ++this.seq;
    this.reply(seq, async () => ({ ...this.emptyFinal(seq, receivedAt), ended_by: 'flush' as const }));
  }

  private emptyFinal(seq: number, receivedAt: number): TranscriptMessage {
    return { type: 'transcript', seq, final: true, ...this.transcriber.empty(0, this.options), latency_ms: Math.round(performance.now() - receivedAt), speculative: 'none' };
  }

  private reply(seq: number, make: () => Promise<TranscriptMessage>): void {
    const previous = this.replies;
    const work = make().then(
      async (message) => {
        await previous;
        this.emit(message);
      },
      async (error: unknown) => {
        await previous;
        this.emit({ ...errorOf(error), seq });
      },
    );
    this.replies = work;
  }

  /** Speculative text: sent early when asked for, and it decides how long the turn's silence must last. */
  private onSpeculative(u: Utterance, t: Transcript): void {
    if (this.early) {
      const message: TranscriptMessage = { type: 'transcript', seq: u.seq, final: false, ...t, latency_ms: 0 };
      if (this.mode === 'server') this.onTimeline(message, u.from);
      this.emit(message);
    }
    if (this.mode === 'server' && this.current === u && this.tracker.silenceMs > 0) {
      this.tracker.settings.hangoverMs = t.text && endsSentence(t.text) ? this.turn.sentenceEndMs : this.turn.endOfTurnMs;
    }
  }
}

const SERVER_NEEDS_VAD = 'server-side turns need the Silero VAD (STT_VAD=on)';
const PARTIALS_NEED_SERVER_TURNS = 'partials need server-side turns (turns=server): with <flush> the client decides the utterances';

