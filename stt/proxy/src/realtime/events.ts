import { z } from 'zod';
import { DEFAULT_TURNS } from '@vtuber-stt/core';

/**
 * The client events of an OpenAI Realtime transcription session (GA shape, `openai` SDK's
 * `RealtimeTranscriptionSessionCreateRequest`), as far as a speech-to-text service can honour
 * them. Fields that only concern a speech-to-speech model are accepted and ignored, so the
 * SDKs' own session objects pass; values that would change what we do are checked.
 */

const serverVadSchema = z
  .object({
    type: z.literal('server_vad'),
    threshold: z.number().gt(0).lt(1).optional(),
    prefix_padding_ms: z.number().int().min(0).max(2000).optional(),
    silence_duration_ms: z.number().int().min(64).max(10000).optional(),
    // Speech-to-speech only: a transcription session never creates responses.
    create_response: z.boolean().optional(),
    interrupt_response: z.boolean().optional(),
    idle_timeout_ms: z.number().nullable().optional(),
  })
  .strict();

export const EAGERNESS = ['low', 'medium', 'high', 'auto'] as const;
export type Eagerness = (typeof EAGERNESS)[number];

/** OpenAI's semantic VAD: how eager the end of turn is, instead of a fixed silence. */
const semanticVadSchema = z
  .object({
    type: z.literal('semantic_vad'),
    eagerness: z.enum(EAGERNESS, { error: 'eagerness must be "low", "medium", "high" or "auto"' }).optional(),
    create_response: z.boolean().optional(),
    interrupt_response: z.boolean().optional(),
  })
  .strict();

const turnDetectionSchema = z.discriminatedUnion('type', [serverVadSchema, semanticVadSchema], {
  error: 'turn_detection.type must be "server_vad" or "semantic_vad" (or turn_detection null)',
});
type TurnDetection = z.infer<typeof turnDetectionSchema>;

/**
 * Semantic VAD is our sentence-aware end of turn: the long wait (`silence_duration_ms`, our
 * `end_of_turn_ms`) while the speculative text does not end a sentence, the short one
 * (`sentence_end_ms`) once it does. OpenAI bounds the wait at 8/4/2 s for low/medium/high;
 * `high` and `auto` keep the default waits (tuned with `npm run bench:felt`, far under 2 s),
 * `medium` and `low` let an unfinished sentence pause longer and still end soon after a finished one.
 */
export const SEMANTIC_WAITS: Record<Eagerness, { silence_duration_ms: number; sentence_end_ms: number }> = {
  auto: { silence_duration_ms: DEFAULT_TURNS.endOfTurnMs, sentence_end_ms: DEFAULT_TURNS.sentenceEndMs },
  high: { silence_duration_ms: DEFAULT_TURNS.endOfTurnMs, sentence_end_ms: DEFAULT_TURNS.sentenceEndMs },
  medium: { silence_duration_ms: 2000, sentence_end_ms: DEFAULT_TURNS.sentenceEndMs },
  low: { silence_duration_ms: 4000, sentence_end_ms: 700 },
};

/** 24 kHz is OpenAI's only rate; 16 kHz is ours as well (what microphones and Whisper use), saving a resample. */
export const REALTIME_RATES = [24000, 16000] as const;

const formatSchema = z
  .object({
    type: z.literal('audio/pcm', { error: 'only "audio/pcm" (16-bit little-endian mono) is supported' }),
    rate: z
      .number()
      .refine((r) => (REALTIME_RATES as readonly number[]).includes(r), { message: 'rate must be 24000 (or 16000)' })
      .optional(),
  })
  .strict();

const transcriptionSchema = z
  .object({
    /** Any name is accepted: the loaded Whisper model answers. */
    model: z.string().max(200).optional(),
    language: z
      .string()
      .regex(/^([a-z]{2,3})?$/i, 'language must be an ISO-639-1 code such as "ko" or "en"')
      .nullable()
      .optional(),
    prompt: z.string().max(1000, 'prompt is limited to 1000 characters').nullable().optional(),
  })
  .passthrough();

export const sessionSchema = z
  .object({
    type: z.literal('transcription', { error: 'this endpoint serves transcription sessions: session.type must be "transcription"' }),
    audio: z
      .object({
        input: z
          .object({
            format: formatSchema.optional(),
            transcription: transcriptionSchema.nullable().optional(),
            turn_detection: turnDetectionSchema.nullable().optional(),
            noise_reduction: z.unknown().optional(),
          })
          .strict()
          .optional(),
      })
      .strict()
      .optional(),
    include: z.array(z.string()).optional(),
  })
  .strict();
export type SessionUpdate = z.infer<typeof sessionSchema>;

const eventId = z.string().max(200).optional();

export const clientEventSchema = z.discriminatedUnion('type', [
  z.object({ type: z.literal('session.update'), event_id: eventId, session: sessionSchema }).strict(),
  z.object({ type: z.literal('input_audio_buffer.append'), event_id: eventId, audio: z.string() }).strict(),
  z.object({ type: z.literal('input_audio_buffer.commit'), event_id: eventId }).strict(),
  z.object({ type: z.literal('input_audio_buffer.clear'), event_id: eventId }).strict(),
]);
export type ClientEvent = z.infer<typeof clientEventSchema>;

/** Server turns as applied: the longest wait (`silence_duration_ms`) and the one after a finished sentence. */
export interface VadConfig {
  type: 'server_vad' | 'semantic_vad';
  /** semantic_vad only. */
  eagerness?: Eagerness;
  threshold: number;
  prefix_padding_ms: number;
  silence_duration_ms: number;
  sentence_end_ms: number;
}

export const DEFAULT_VAD: VadConfig = {
  type: 'server_vad',
  threshold: DEFAULT_TURNS.threshold,
  prefix_padding_ms: DEFAULT_TURNS.preRollMs,
  silence_duration_ms: DEFAULT_TURNS.endOfTurnMs,
  sentence_end_ms: DEFAULT_TURNS.sentenceEndMs,
};

/**
 * A `turn_detection` object applied to the current turns: server_vad's fields change only
 * what they name; a change of type starts from the defaults; semantic_vad's eagerness sets both waits.
 */
export function applyTurnDetection(current: VadConfig | null, v: TurnDetection): VadConfig {
  const base = current?.type === v.type ? current : DEFAULT_VAD;
  if (v.type === 'semantic_vad') {
    const eagerness = v.eagerness ?? base.eagerness ?? 'auto';
    return { type: 'semantic_vad', eagerness, threshold: base.threshold, prefix_padding_ms: base.prefix_padding_ms, ...SEMANTIC_WAITS[eagerness] };
  }
  const silence = v.silence_duration_ms ?? base.silence_duration_ms;
  return {
    type: 'server_vad',
    threshold: v.threshold ?? base.threshold,
    prefix_padding_ms: v.prefix_padding_ms ?? base.prefix_padding_ms,
    silence_duration_ms: silence,
    // A turn whose text ends a sentence ends sooner (never later than silence_duration_ms).
    sentence_end_ms: Math.min(silence, DEFAULT_TURNS.sentenceEndMs),
  };
}

/** The effective configuration, as `session.created` / `session.updated` report it. */
export interface SessionConfig {
  rate: number;
  model: string;
  language: string | null;
  prompt: string;
  /** null: the client commits each utterance itself. */
  vad: VadConfig | null;
}

export function describeSession(id: string, c: SessionConfig): Record<string, unknown> {
  return {
    type: 'transcription',
    object: 'realtime.transcription_session',
    id,
    audio: {
      input: {
        format: { type: 'audio/pcm', rate: c.rate },
        transcription: { model: c.model, language: c.language, prompt: c.prompt },
        // OpenAI's fields, and ours (`sentence_end_ms`) beside them: what the turns really wait.
        turn_detection: c.vad,
        noise_reduction: null,
      },
    },
    include: [],
  };
}

/** OpenAI's error types, by the cause's side. */
export function errorType(code: string): 'invalid_request_error' | 'server_error' {
  return ['overloaded', 'engine_error', 'engine_unavailable', 'not_ready', 'unreachable'].includes(code) ? 'server_error' : 'invalid_request_error';
}

/** Valid standard base64 (what `Buffer.from(…, 'base64')` would otherwise read past silently). */
export function isBase64(text: string): boolean {
  return text.length % 4 === 0 && /^[A-Za-z0-9+/]*={0,2}$/.test(text);
}
