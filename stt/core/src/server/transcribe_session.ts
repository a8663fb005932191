import { msOfSamples as ms, SAMPLE_RATE, type Encoding, type PcmFormat } from '../audio/format.js';
import { StreamingResampler } from '../audio/resample.js';
import type { RequestOptions, Transcriber } from '../decode/transcriber.js';
import type { Metrics } from '../metrics.js';
import { concatFloat32, decodePcm } from '../audio/pcm.js';
import type { AssistantAudioMessage, AssistantSpeechMessage, ConfigAck, ConfigMessage, ErrorMessage, ResetAck, TranscribeServerMessage, TurnMode } from '../protocol/messages.js';
import { AssistantVoice, DEFAULT_ASSISTANT, type AssistantSettings } from '../turns/assistant_voice.js';
import { AudioLog } from '../turns/audio_log.js';
import { FlushTurns } from '../turns/flush_turns.js';
import { ServerTurns } from '../turns/server_turns.js';
import { SessionLanguage } from '../turns/session_language.js';
import { applyTurnFields, turnFieldsOf, type TurnSettings } from '../turns/settings.js';
import { errorOf, FinalQueue, type TurnContext, type TurnTaking } from '../turns/turn_taking.js';
import type { SileroStream } from '../vad/silero.js';
import { decodeFrame } from './frame.js';
import type { Limits } from './limits.js';

export interface SessionOptions {
  turns: TurnMode;
  early: boolean;
  /** Live partials (server turns only). */
  partials?: boolean;
  /** `turn` events (server turns only). */
  turnEvents?: boolean;
  settings: TurnSettings;
  /** What the VTuber's own voice does here; `barge_in` with a 300 ms tail by default. */
  assistant?: AssistantSettings;
}

/**
 * One `/ws/transcribe` connection. Audio is decoded and brought to 16 kHz as it arrives and runs
 * through this connection's Silero stream, window by window, so the work after the end of a turn
 * is only the decode, and often not even that: a pause starts a speculative decode whose result
 * becomes the final when the turn ends with nothing but silence added.
 *
 * This object owns what a connection has whichever side ends its utterances (the audio format,
 * the log, the decode options and settings, the order of its work and of its finals); who ends
 * them is a `TurnTaking`: `FlushTurns` (protocol v1: the client's `<flush>`) or `ServerTurns`
 * (the utterance tracker and the segmenter, with events). Transport-free: messages go to `emit`.
 */
export class TranscribeSession {
  private format: PcmFormat;
  private resampler?: StreamingResampler;
  private readonly log = new AudioLog();
  /** Per-connection processing order: VAD windows, then flushes, as they arrived. */
  private chain: Promise<void> = Promise.resolve();
  private options: Required<RequestOptions>;
  private early: boolean;
  private turn: TurnSettings;
  private muted = false;
  /** 16 kHz microphone audio received (heard or not): the clock the VTuber's speech is placed on. */
  private received = 0;
  private heard = false;
  private readonly abort = new AbortController();
  private readonly assistant: AssistantVoice;
  private readonly context: TurnContext;
  private turns: TurnTaking;

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
    this.early = options.early;
    this.turn = options.settings;
    this.assistant = new AssistantVoice(options.assistant ?? DEFAULT_ASSISTANT, emit);
    this.context = {
      log: this.log,
      transcriber,
      signal: this.abort.signal,
      metrics,
      language: new SessionLanguage(() => this.turn.languageMemory),
      finals: new FinalQueue(emit),
      assistant: this.assistant,
      emit,
      enqueue: (step) => this.enqueue(step),
      newVad: () => (this.hearsTurns ? this.newVadStream!() : undefined),
      options: () => this.options,
      settings: () => this.turn,
      early: () => this.early,
      heard: () => this.heard,
      newStretch: (drain) => this.newStretch(drain),
    };
    this.newStretch(false);
    const wants = { partials: options.partials ?? false, turnEvents: options.turnEvents ?? false };
    const refused = this.refusal(options.turns, wants);
    if (refused) throw Object.assign(new Error(refused), { code: 'bad_message' });
    this.turns = this.takeTurns(options.turns, wants);
  }

  get bufferedMs(): number {
    return ms(this.turns.bufferedSamples);
  }

  /** Appends a binary frame; returns an error reply when the frame is refused (nothing is buffered then). */
  append(frame: Uint8Array): ErrorMessage | undefined {
    const decoded = decodeFrame(frame, this.format, this.limits);
    if (!(decoded instanceof Float32Array)) return decoded;
    const incoming = Math.ceil((decoded.length * SAMPLE_RATE) / this.format.sampleRate);
    if (this.turns.heldSamples + incoming > this.limits.maxBufferSeconds * SAMPLE_RATE) {
      return {
        type: 'error',
        code: 'buffer_full',
        error: `buffer limit of ${this.limits.maxBufferSeconds} s reached (STT_MAX_BUFFER_SECONDS): this frame was not added; send <flush> to transcribe what is buffered`,
      };
    }
    const heard = this.assistant.clean(this.resampler ? this.resampler.push(decoded) : decoded);
    this.hear(heard);
    return undefined;
  }

  /**
   * 16 kHz microphone audio into the log and the turn taking. Muted, or while the VTuber speaks
   * under `ignore`: accepted and discarded; what stands in for it keeps the timeline (or nothing does).
   */
  private hear(heard: Float32Array): void {
    const ignored = this.muted ? heard.length : this.assistant.ignoredSamples(this.received, heard.length);
    this.received += heard.length;
    const unheard = ignored > 0 ? this.turns.whileMuted(ignored) : undefined;
    const pcm = ignored === 0 ? heard : unheard ? concatFloat32([unheard, heard.subarray(ignored)]) : heard.subarray(ignored);
    if (pcm.length === 0) return;
    this.log.push(pcm);
    this.metrics?.audioSeconds.inc(pcm.length / SAMPLE_RATE);
    this.turns.push(pcm, unheard?.length ?? 0);
  }

  /** `<flush>`: ends the utterance in progress now; its final (one per flush) follows. */
  flush(receivedAt = performance.now()): void {
    this.turns.flush(receivedAt);
  }

  configure(message: ConfigMessage): ConfigAck | ErrorMessage {
    const formatChange = message.sample_rate !== undefined || message.encoding !== undefined;
    if (formatChange && this.turns.heard) {
      return { type: 'error', code: 'bad_message', error: `cannot change sample_rate or encoding with ${this.bufferedMs} ms buffered; send <flush> or reset first` };
    }
    const modeChange = message.turns !== undefined && message.turns !== this.turns.mode;
    if (modeChange && this.log.end > 0) return { type: 'error', code: 'bad_message', error: 'turns can only be chosen before any audio is sent' };
    const wants = { partials: message.partials ?? this.turns.partials, turnEvents: message.turn_events ?? this.turns.turnEvents };
    const refused = this.refusal(message.turns ?? this.turns.mode, wants);
    if (refused) return { type: 'error', code: 'bad_message', error: refused };
    const turn = applyTurnFields(this.turn, message);
    if (turn.maxUtteranceMs > this.limits.maxBufferSeconds * 1000) {
      return { type: 'error', code: 'bad_message', error: `max_utterance_ms must not exceed the buffer limit of ${this.limits.maxBufferSeconds} s (STT_MAX_BUFFER_SECONDS)` };
    }
    if (message.language !== undefined) this.options.language = message.language;
    if (message.prompt !== undefined) this.options.prompt = message.prompt;
    if (message.translate !== undefined) this.options.translate = message.translate;
    if (message.word_timestamps !== undefined) this.options.word_timestamps = message.word_timestamps;
    if (message.early !== undefined) this.early = message.early;
    if (message.heard !== undefined) this.heard = message.heard;
    if (message.assistant_policy !== undefined || message.assistant_tail_ms !== undefined) {
      this.assistant.configure({ policy: message.assistant_policy ?? this.assistant.policy, tailMs: message.assistant_tail_ms ?? this.assistant.tailMs });
    }
    this.turn = turn;
    if (message.muted !== undefined && message.muted !== this.muted) this.setMuted(message.muted);
    if (modeChange) {
      this.turns.cancel();
      this.newStretch(false);
      this.turns = this.takeTurns(message.turns!, wants);
    } else {
      this.turns.partials = wants.partials;
      this.turns.turnEvents = wants.turnEvents;
      this.turns.configure();
    }
    if (formatChange) {
      this.format = { ...this.format, sampleRate: message.sample_rate ?? this.format.sampleRate, encoding: (message.encoding ?? this.format.encoding) as Encoding };
      this.turns.restart();
    }
    return this.ack();
  }

  /** The connection's settings now: the answer to config, mute and assistant_speech alike. */
  private ack(): ConfigAck {
    return {
      type: 'config',
      ...this.options,
      sample_rate: this.format.sampleRate,
      encoding: this.format.encoding,
      turns: this.turns.mode,
      early: this.early,
      partials: this.turns.partials,
      turn_events: this.turns.turnEvents,
      heard: this.heard,
      muted: this.muted,
      word_timestamps: this.options.word_timestamps,
      assistant_policy: this.assistant.policy,
      assistant_tail_ms: this.assistant.tailMs,
      assistant_speaking: this.assistant.speaking,
      ...turnFieldsOf(this.turn),
    };
  }

  /**
   * The VTuber starts or stops speaking, at the audio received so far: whoever listens is told,
   * and the connection's settings (with `assistant_speaking`) are the answer.
   */
  speak(message: AssistantSpeechMessage): ConfigAck {
    const at = this.received;
    if (message.state === 'start') this.assistant.start(message.text ?? '', at);
    else this.assistant.end(at);
    this.emit({ type: 'assistant', state: message.state, at_ms: ms(at), ...(message.state === 'start' ? { text: message.text ?? '' } : {}) });
    return this.ack();
  }

  /** What the VTuber's speakers play now: the echo canceller's reference. Not answered. */
  reference(message: AssistantAudioMessage): void {
    const pcm = decodePcm(Buffer.from(message.audio, 'base64'), { sampleRate: message.sample_rate, encoding: 's16le', channels: 1 });
    this.assistant.reference(pcm, message.sample_rate);
  }

  /** Muting ends the turn in progress at once; either way, whoever listens is told. */
  private setMuted(muted: boolean): void {
    this.muted = muted;
    if (muted) this.turns.mute(performance.now());
    this.emit({ type: 'mute', muted, at_ms: ms(this.log.end) });
  }

  /** Discards the audio of the utterance in progress (server mode: its seq is answered, empty). */
  reset(): ResetAck {
    const discarded = this.bufferedMs;
    this.turns.reset();
    return { type: 'reset', discarded_ms: discarded };
  }

  /** The client left: queued work for it is dropped, running work is discarded when it ends. */
  close(): void {
    this.turns.cancel();
    this.abort.abort();
    this.assistant.close();
  }

  private get hearsTurns(): boolean {
    return this.newVadStream !== undefined && this.transcriber.gatesSpeech;
  }

  /** Why this turn mode, with what else is wanted, cannot be served here, if it cannot. */
  private refusal(mode: TurnMode, wants: Wants): string | undefined {
    if (mode === 'server' && !this.hearsTurns) return SERVER_NEEDS_VAD;
    if (wants.partials && mode !== 'server') return PARTIALS_NEED_SERVER_TURNS;
    if (wants.turnEvents && mode !== 'server') return TURN_EVENTS_NEED_SERVER_TURNS;
    return undefined;
  }

  private takeTurns(mode: TurnMode, wants: Wants): TurnTaking {
    return mode === 'server' ? new ServerTurns(this.context, wants.partials, wants.turnEvents) : new FlushTurns(this.context);
  }

  private enqueue(step: () => Promise<void>): void {
    this.chain = this.chain.then(step).catch((error: unknown) => {
      this.emit({ ...errorOf(error), error: `speech detection failed: ${(error as Error).message}` });
    });
  }

  /** A new stretch of client audio: a fresh resampler; `drain`: what the last one holds joins the log first. */
  private newStretch(drain: boolean): void {
    if (drain) {
      // What the resampler and the echo canceller still hold joins the log first.
      const tail = this.resampler ? this.assistant.clean(this.resampler.end()) : new Float32Array(0);
      const held = concatFloat32([tail, this.assistant.drain()]);
      this.received += held.length;
      if (held.length > 0) this.log.push(held);
    }
    this.resampler = this.format.sampleRate === SAMPLE_RATE ? undefined : new StreamingResampler(this.format.sampleRate, SAMPLE_RATE);
  }
}

const SERVER_NEEDS_VAD = 'server-side turns need the Silero VAD (STT_VAD=on)';
const PARTIALS_NEED_SERVER_TURNS = 'partials need server-side turns (turns=server): with <flush> the client decides the utterances';
const TURN_EVENTS_NEED_SERVER_TURNS = 'turn events need server-side turns (turns=server): with <flush> the client decides the turns';

/** What a connection asks for beside its turn mode (server turns only). */
interface Wants {
  partials: boolean;
  turnEvents: boolean;
}
