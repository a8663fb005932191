import { z } from 'zod';
import { MAX_RATE, MIN_RATE } from '../audio/format.js';
import type { ErrorCode } from './errors.js';
import { isWhisperLanguage, unknownLanguageMessage } from './languages.js';

/**
 * Wire protocol v1. Defined once here; the proxy, the client and the control panel import
 * these types. Field names are snake_case because the founding document's clients are Python.
 */
export { FLUSH_COMMAND, isFinalAnswer } from './wire.js';

export const encodingSchema = z.enum(['s16le', 'f32le']);
const languageSchema = z
  .string()
  .trim()
  .toLowerCase()
  .refine(isWhisperLanguage, { error: (issue) => unknownLanguageMessage(String(issue.input)) });

/** Who ends an utterance: the client with `<flush>` (protocol v1, the default) or the service. */
export const turnModeSchema = z.enum(['flush', 'server']);
export type TurnMode = z.infer<typeof turnModeSchema>;

/** Per-connection turn-taking settings (server mode); each has a service default. */
export const turnFieldsSchema = z.object({
  /** Silence after speech before the speculative decode starts. */
  speculate_ms: z.number().int().min(32).max(5000).optional(),
  /** Silence that ends a turn when the speculative text does not end a sentence. */
  end_of_turn_ms: z.number().int().min(64).max(10000).optional(),
  /** Silence that ends a turn when the speculative text ends a sentence (. ? ! 。 ？ ！ ...). */
  sentence_end_ms: z.number().int().min(64).max(10000).optional(),
  /** Turn events: silence a pause must last before its early text is announced as `eager_end`. */
  eager_end_ms: z.number().int().min(0).max(10000).optional(),
  /** Audio kept before the detected start of speech. */
  pre_roll_ms: z.number().int().min(0).max(2000).optional(),
  /** Speech probability that opens an utterance. */
  threshold: z.number().gt(0).lt(1).optional(),
  /** Speech needed before speech_start. */
  min_speech_ms: z.number().int().min(0).max(5000).optional(),
  /** An utterance this long ends even without a pause. */
  max_utterance_ms: z.number().int().min(1000).max(600000).optional(),
});
export type TurnFields = z.infer<typeof turnFieldsSchema>;

/**
 * The VTuber's own voice, per connection. `barge_in` (default): the microphone is echo-cancelled
 * against the reference audio (`assistant_audio`) when there is some, an `interruption` event
 * fires when the streamer starts speaking over the VTuber, and without reference audio a final
 * repeating the VTuber's recent words is dropped (`dropped: "echo"`). `ignore` (half duplex):
 * what the microphone hears while the VTuber speaks, and `assistant_tail_ms` after, is not
 * transcribed. `off`: the VTuber's speech changes nothing.
 */
export const assistantPolicySchema = z.enum(['barge_in', 'ignore', 'off']);
export type AssistantPolicy = z.infer<typeof assistantPolicySchema>;

export const configMessageSchema = z
  .object({
    type: z.literal('config'),
    language: languageSchema.optional(),
    prompt: z.string().max(1000, 'prompt is limited to 1000 characters').optional(),
    translate: z.boolean().optional(),
    sample_rate: z.number().int().min(MIN_RATE).max(MAX_RATE).optional(),
    encoding: encodingSchema.optional(),
    turns: turnModeSchema.optional(),
    /** Send the speculative text as soon as it is ready (`"final": false`), before the final. */
    early: z.boolean().optional(),
    /** Server turns: live `partial` messages while an utterance runs (re-decoded when the engine is free). */
    partials: z.boolean().optional(),
    /** Server turns: `turn` events (start, eager_end, resumed, end), one meaning each, for a listener that acts on turns. */
    turn_events: z.boolean().optional(),
    /**
     * Server turns: `heard` messages saying how far the service has listened with no utterance
     * open, so a client keeping audio to replay after a failover may forget what lies before.
     */
    heard: z.boolean().optional(),
    /**
     * Muted: audio is accepted and discarded (server turns hear silence in its place, so the
     * timeline goes on), and the turn in progress ends at once. `{"type":"mute"}` and
     * `{"type":"unmute"}` say the same.
     */
    muted: z.boolean().optional(),
    /** Word times in each segment's `words` (from whisper.cpp's token timestamps). */
    word_timestamps: z.boolean().optional(),
    /** What the VTuber's own voice (`assistant_speech`) does to this connection: see assistantPolicySchema. */
    assistant_policy: assistantPolicySchema.optional(),
    /** `ignore`: how long after the VTuber stops speaking the microphone is still not transcribed (its echo dying away). */
    assistant_tail_ms: z.number().int().min(0).max(5000).optional(),
    ...turnFieldsSchema.shape,
  })
  .strict();

export const resetMessageSchema = z.object({ type: z.literal('reset') }).strict();

/** Push-to-talk and remote mute: shorthands for a config message's `muted`. */
export const muteMessageSchema = z.object({ type: z.literal('mute') }).strict();
export const unmuteMessageSchema = z.object({ type: z.literal('unmute') }).strict();


/** Longest `text` of one `assistant_speech` message (what the VTuber says in one go). */
export const MAX_ASSISTANT_TEXT = 4000;
/** Longest `audio` (base64) of one `assistant_audio` message: 256 KiB of base64, about 4 s of 24 kHz s16le. */
export const MAX_ASSISTANT_AUDIO_BASE64 = 256 * 1024;

/** The VTuber starts speaking (with what it says) or stops: its brain says so as it plays its TTS. */
export const assistantSpeechMessageSchema = z
  .object({
    type: z.literal('assistant_speech'),
    state: z.enum(['start', 'end']),
    text: z.string().max(MAX_ASSISTANT_TEXT, `text is limited to ${MAX_ASSISTANT_TEXT} characters per assistant_speech message`).optional(),
  })
  .strict();
export type AssistantSpeechMessage = z.infer<typeof assistantSpeechMessageSchema>;

/**
 * What the VTuber's speakers play, as it plays it: the echo canceller's reference. Base64 of
 * s16le mono PCM at `sample_rate`, whole samples.
 */
export const assistantAudioMessageSchema = z
  .object({
    type: z.literal('assistant_audio'),
    audio: z
      .string()
      .max(MAX_ASSISTANT_AUDIO_BASE64, `audio is limited to ${MAX_ASSISTANT_AUDIO_BASE64} base64 characters per assistant_audio message; send the TTS audio in smaller pieces as it plays`)
      .regex(/^[A-Za-z0-9+/]*={0,2}$/, 'audio must be base64 (s16le mono PCM)')
      .refine((b64) => base64Bytes(b64) % 2 === 0, 'audio must hold whole 16-bit samples (s16le mono)'),
    sample_rate: z.number().int().min(MIN_RATE).max(MAX_RATE),
  })
  .strict();
export type AssistantAudioMessage = z.infer<typeof assistantAudioMessageSchema>;

/** Bytes that base64 text decodes to. */
function base64Bytes(b64: string): number {
  const pad = b64.endsWith('==') ? 2 : b64.endsWith('=') ? 1 : 0;
  return Math.floor((b64.length * 3) / 4) - pad;
}

export const clientMessageSchema = z.discriminatedUnion('type', [
  configMessageSchema,
  resetMessageSchema,
  muteMessageSchema,
  unmuteMessageSchema,
  assistantSpeechMessageSchema,
  assistantAudioMessageSchema,
]);

export type ConfigMessage = z.infer<typeof configMessageSchema>;
export type ClientMessage = z.infer<typeof clientMessageSchema>;

/** One word with its time, on the same timeline as its segment. */
export interface TranscriptWord {
  word: string;
  start_ms: number;
  end_ms: number;
  probability?: number;
}

export interface TranscriptSegment {
  start_ms: number;
  end_ms: number;
  text: string;
  no_speech_prob?: number;
  avg_logprob?: number;
  /** Present when the connection asked for `word_timestamps` and the engine gives them. */
  words?: TranscriptWord[];
}

/**
 * The text of one utterance: the reply to a `<flush>`, or in server mode the final of an
 * utterance the service ended. `final: false` is speculative text sent early (opt-in, `early`):
 * the final with the same `seq` follows and may differ if speech resumed.
 */
export interface TranscriptMessage {
  type: 'transcript';
  seq: number;
  /** false: speculative text, a final with this seq follows. Absent or true: this seq's answer. */
  final?: boolean;
  text: string;
  language: string;
  /** Audio in this flush or utterance, in ms. */
  audio_ms: number;
  /** From `<flush>` received (server mode: the end of turn decided) to this reply sent. */
  latency_ms: number;
  /** Time spent in whisper.cpp alone (the queue wait is queue_ms). */
  inference_ms: number;
  /** Time the decode waited for the engine. */
  queue_ms?: number;
  /** The audio the engine was given (silence trimmed), on this message's timeline, and its encoder context in frames. */
  decoded_ms?: [number, number];
  audio_ctx?: number;
  /** Server mode: the utterance on the connection's timeline (ms of audio received), pre-roll excluded. */
  start_ms?: number;
  end_ms?: number;
  /** Whether a speculative decode supplied this final: hit (used), miss (discarded, decoded again), none. */
  speculative?: 'hit' | 'miss' | 'none';
  /** Server mode: what ended the utterance (a `<flush>` answer says `flush`). */
  ended_by?: 'silence' | 'flush' | 'max_length' | 'mute';
  /** Speech the VAD found; 0 means the engine was not run. */
  speech_ms: number;
  segments: TranscriptSegment[];
  /**
   * Why text is empty although audio was sent: `no_speech` (VAD), `hallucination` (filtered),
   * `reset` (the client discarded it), `echo` (it repeated what the VTuber was saying: `assistant_speech`).
   */
  dropped?: 'no_speech' | 'hallucination' | 'reset' | 'echo';
  /** The loop guard tripped: `redecoded` (a full-window decode fixed it) or `cut` (the repeated tail was removed from `text`). */
  repetition?: 'redecoded' | 'cut';
}

export type { ErrorCode };

export interface ErrorMessage {
  type: 'error';
  error: string;
  code: ErrorCode;
  /** Present when the error answers a `<flush>`: that flush got no transcript. */
  seq?: number;
  /** `at_capacity`: seconds after which a new try may be admitted (what REST says as `Retry-After`). */
  retry_after_s?: number;
}

export interface ConfigAck {
  type: 'config';
  language: string;
  prompt: string;
  translate: boolean;
  sample_rate: number;
  encoding: z.infer<typeof encodingSchema>;
  turns: TurnMode;
  early: boolean;
  partials: boolean;
  turn_events: boolean;
  heard: boolean;
  muted: boolean;
  word_timestamps: boolean;
  assistant_policy: AssistantPolicy;
  assistant_tail_ms: number;
  /** Whether the VTuber speaks now (`assistant_speech` start, not ended yet). */
  assistant_speaking: boolean;
  speculate_ms: number;
  end_of_turn_ms: number;
  sentence_end_ms: number;
  eager_end_ms: number;
  pre_roll_ms: number;
  threshold: number;
  min_speech_ms: number;
  max_utterance_ms: number;
}

export interface ResetAck {
  type: 'reset';
  discarded_ms: number;
}

/** Server mode: speech began (the first speech window, on the connection's audio timeline). */
export interface SpeechStartEvent {
  type: 'speech_start';
  /** The seq its final will carry. */
  seq: number;
  start_ms: number;
}

/** Server mode: the turn ended; the final with this seq follows. */
export interface SpeechEndEvent {
  type: 'speech_end';
  seq: number;
  /** End of the last speech window. */
  end_ms: number;
  /** Audio received when the end was decided: end_ms plus the silence that ended the turn. */
  decided_ms: number;
}

/**
 * Server turns with `partials`: interim text of the utterance `seq` while it runs, re-decoded
 * from its growing audio when the engine has nothing more urgent. `stable` is the part two
 * consecutive decodes agreed on (LocalAgreement-2): within one seq it only ever grows, and
 * `text` always starts with it. The final with this seq is the answer and may still differ.
 */
export interface PartialMessage {
  type: 'partial';
  seq: number;
  /** The whole hypothesis: `stable` followed by the words not yet agreed on. */
  text: string;
  stable: string;
  language: string;
  /** Audio of the utterance this hypothesis was decoded from, in ms. */
  audio_ms: number;
  inference_ms: number;
}

/**
 * Server turns with `turn_events`: the moments a listener acting on the streamer's turns needs,
 * one meaning each (after Deepgram Flux). `start`: a turn began. `eager_end`: the speaker paused
 * and the turn's text so far exists (`text`): an answer may be prepared from it. `resumed`: the
 * speaker went on after an eager end: drop what was prepared. `end`: the turn is committed, with
 * its final text (or `error`, or `dropped`); nothing more comes for this seq.
 */
export interface TurnEvent {
  type: 'turn';
  event: 'start' | 'eager_end' | 'resumed' | 'end';
  seq: number;
  /** Where on the connection's audio timeline it happened (start: the speech's start; end: its end; else the audio heard by then). */
  at_ms: number;
  /** eager_end: the speculative text; end: the final's. */
  text?: string;
  language?: string;
  /** end: how the turn ended (`silence`, `flush`, `max_length`). */
  ended_by?: string;
  /** end: the turn's audio was discarded (`reset`) or held no speech (`no_speech`). */
  dropped?: string;
  /** end: the final was an error with this code. */
  error?: ErrorCode;
}

/** Server turns with `heard`: the service has listened up to `at_ms` and no utterance is open (every second of such audio). */
export interface HeardEvent {
  type: 'heard';
  at_ms: number;
}

/** The connection was muted or unmuted (whoever asked: the speaker, or the proxy for a named session). */
export interface MuteEvent {
  type: 'mute';
  muted: boolean;
  /** Audio received by then, on the connection's timeline. */
  at_ms: number;
}

/** The VTuber started or stopped speaking (`assistant_speech`, from the speaker or the proxy for a named session). */
export interface AssistantEvent {
  type: 'assistant';
  state: 'start' | 'end';
  /** Audio received by then, on the connection's timeline. */
  at_ms: number;
  /** start: what the VTuber says. */
  text?: string;
}

/**
 * `barge_in`: the streamer started speaking while the VTuber speaks: stop the TTS. `seq` is the
 * streamer's utterance; `at_ms` the audio heard when its speech was confirmed (its `start_ms` is
 * the speech's start), on the connection's timeline.
 */
export interface InterruptionEvent {
  type: 'interruption';
  seq: number;
  at_ms: number;
  start_ms: number;
}

export type TranscribeServerMessage =
  | TranscriptMessage
  | PartialMessage
  | ErrorMessage
  | ConfigAck
  | ResetAck
  | SpeechStartEvent
  | SpeechEndEvent
  | TurnEvent
  | MuteEvent
  | HeardEvent
  | AssistantEvent
  | InterruptionEvent;

/**
 * The events of a session, as every consumer other than the speaker hears them (listeners on
 * /ws/events, the webhook, the panel, captions): what happened to the streamer's speech, never
 * the replies to the speaker's own commands. An error that answers a seq is one too.
 */
export const SESSION_EVENT_TYPES = ['speech_start', 'speech_end', 'partial', 'transcript', 'turn', 'mute', 'assistant', 'interruption'] as const;

/** Whether `message` is a session event (see SESSION_EVENT_TYPES). */
export function isSessionEvent(message: Record<string, unknown>): boolean {
  return (SESSION_EVENT_TYPES as readonly unknown[]).includes(message.type) || (message.type === 'error' && typeof message.seq === 'number');
}


/** `/ws/detect`: tunes the utterance hysteresis of one connection. */
export const detectConfigMessageSchema = z
  .object({
    type: z.literal('config'),
    threshold: z.number().gt(0).lt(1).optional(),
    neg_threshold: z.number().gt(0).lt(1).optional(),
    min_speech_ms: z.number().int().min(0).max(5000).optional(),
    hangover_ms: z.number().int().min(0).max(10000).optional(),
  })
  .strict();
export type DetectConfigMessage = z.infer<typeof detectConfigMessageSchema>;

/** The reply to every binary chunk on `/ws/detect`, in order. */
export interface DetectReply {
  type: 'detect';
  /** The founding document's contract: speech in this chunk. */
  speech_detected: boolean;
  /** Highest Silero probability in the chunk (absent in whisper mode). */
  probability?: number;
  /** Audio received so far on this connection, in ms, at the end of this chunk. */
  offset_ms: number;
  /** An utterance began at this offset (ms from the connection's start). */
  speech_start?: number;
  /** The utterance ended at this offset. */
  speech_end?: number;
  /** Hybrid: Whisper heard words in the utterance that began at this offset... */
  speech_confirmed?: number;
  text?: string;
  /** ...or heard none (a cough, a click, music): disregard that speech_start. */
  speech_withdrawn?: number;
}

export interface DetectConfigAck {
  type: 'config';
  detector: 'silero' | 'whisper' | 'hybrid';
  threshold: number;
  neg_threshold: number;
  min_speech_ms: number;
  hangover_ms: number;
}

export type DetectServerMessage = DetectReply | DetectConfigAck | ErrorMessage;

/** Human-readable summary of a zod failure, naming the field. */
export function describeIssues(error: z.ZodError): string {
  return error.issues.map((i) => (i.path.length ? `${i.path.join('.')}: ${i.message}` : i.message)).join('; ');
}
