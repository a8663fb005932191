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

/** Human-readable summary of a zod failure, naming the field. */
export function describeIssues(error: z.ZodError): string {
  return error.issues.map((i) => (i.path.length ? `${i.path.join('.')}: ${i.message}` : i.message)).join('; ');
}
