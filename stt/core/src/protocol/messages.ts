import { z } from 'zod';

/**
 * Wire protocol v1. Defined once here; the proxy, the client and the control panel import
 * these types. Field names are snake_case because the founding document's clients are Python.
 */
export const FLUSH_COMMAND = '<flush>';

export const encodingSchema = z.enum(['s16le', 'f32le']);
const languageSchema = z
  .string()
  .trim()
  .toLowerCase()
  .regex(/^(auto|[a-z]{2,3})$/, 'language must be "auto" or an ISO code such as "ko" or "en"');

export const configMessageSchema = z
  .object({
    type: z.literal('config'),
    language: languageSchema.optional(),
    prompt: z.string().max(1000, 'prompt is limited to 1000 characters').optional(),
    translate: z.boolean().optional(),
    sample_rate: z.number().int().min(8000).max(192000).optional(),
    encoding: encodingSchema.optional(),
  })
  .strict();

export const resetMessageSchema = z.object({ type: z.literal('reset') }).strict();

export const clientMessageSchema = z.discriminatedUnion('type', [configMessageSchema, resetMessageSchema]);

export type ConfigMessage = z.infer<typeof configMessageSchema>;
export type ClientMessage = z.infer<typeof clientMessageSchema>;

export interface TranscriptSegment {
  start_ms: number;
  end_ms: number;
  text: string;
  no_speech_prob?: number;
  avg_logprob?: number;
}

/** The reply to one `<flush>`. */
export interface TranscriptMessage {
  type: 'transcript';
  seq: number;
  text: string;
  language: string;
  /** Audio in this flush, in ms. */
  audio_ms: number;
  /** From `<flush>` received to this reply sent. */
  latency_ms: number;
  /** Time spent in whisper.cpp alone. */
  inference_ms: number;
  /** Speech the VAD found; 0 means the engine was not run. */
  speech_ms: number;
  segments: TranscriptSegment[];
  /** Why text is empty although audio was sent: `no_speech` (VAD) or `hallucination` (filtered). */
  dropped?: 'no_speech' | 'hallucination';
}

export type ErrorCode =
  | 'bad_audio'
  | 'bad_message'
  | 'frame_too_large'
  | 'buffer_full'
  | 'overloaded'
  | 'engine_error'
  | 'engine_unavailable'
  | 'not_ready';

export interface ErrorMessage {
  type: 'error';
  error: string;
  code: ErrorCode;
  /** Present when the error answers a `<flush>`: that flush got no transcript. */
  seq?: number;
}

export interface ConfigAck {
  type: 'config';
  language: string;
  prompt: string;
  translate: boolean;
  sample_rate: number;
  encoding: z.infer<typeof encodingSchema>;
}

export interface ResetAck {
  type: 'reset';
  discarded_ms: number;
}

export type TranscribeServerMessage = TranscriptMessage | ErrorMessage | ConfigAck | ResetAck;

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
