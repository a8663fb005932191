import type { TurnFields } from '../protocol/messages.js';
import { WINDOW_MS } from '../vad/utterance_tracker.js';

/** How a connection's turns are taken; service defaults, tunable per connection. */
export interface TurnSettings {
  speculateMs: number;
  endOfTurnMs: number;
  sentenceEndMs: number;
  /** Turn events: silence a pause must last before its early text is announced as `eager_end`. */
  eagerEndMs: number;
  preRollMs: number;
  threshold: number;
  minSpeechMs: number;
  maxUtteranceMs: number;
  /** Speech heard before the language is identified on its own (auto language only). */
  languageAfterMs: number;
  /** Auto language: keep the session's language while its finals' text stays in its script, instead of identifying each utterance. */
  languageMemory: boolean;
  /** Live partials: growth of the speech between two partial decodes. */
  partialIntervalMs: number;
}

/**
 * A pause shorter than this is not announced as an eager end (`turn` events): Silero's silence
 * (from the last speech window) in the 0.2-0.4 s pauses inside a sentence stays below it, and the
 * early text rarely exists sooner (a decode after `speculate_ms`). Chosen with `npm run bench:felt`
 * (docs/measurements.md).
 */
export const EAGER_END_MS = 300;

/**
 * Chosen with `npm run bench:felt` (see docs/measurements.md): speculation right after the speech gate's
 * trailing pad has arrived, a turn that ends a sentence ends sooner (RealtimeSTT's 0.45 s), one
 * that does not waits longer; both stay above the 0.2-0.4 s pauses inside a sentence.
 */
export const DEFAULT_TURNS: TurnSettings = {
  speculateMs: 64,
  endOfTurnMs: 700,
  sentenceEndMs: 450,
  eagerEndMs: EAGER_END_MS,
  preRollMs: 320,
  threshold: 0.4,
  minSpeechMs: 32,
  maxUtteranceMs: 30_000,
  languageAfterMs: 800,
  // Off until checked on real weights: Whisper held to the wrong language may translate (Korean
  // speech decoded as English text), which the script check cannot see.
  languageMemory: false,
  partialIntervalMs: 1000,
};

/** Applies a config message's turn fields; the pre-roll is kept to whole VAD windows. */
export function applyTurnFields(current: TurnSettings, fields: TurnFields): TurnSettings {
  const next = { ...current };
  if (fields.speculate_ms !== undefined) next.speculateMs = fields.speculate_ms;
  if (fields.end_of_turn_ms !== undefined) next.endOfTurnMs = fields.end_of_turn_ms;
  if (fields.sentence_end_ms !== undefined) next.sentenceEndMs = fields.sentence_end_ms;
  if (fields.eager_end_ms !== undefined) next.eagerEndMs = fields.eager_end_ms;
  if (fields.pre_roll_ms !== undefined) next.preRollMs = Math.round(fields.pre_roll_ms / WINDOW_MS) * WINDOW_MS;
  if (fields.threshold !== undefined) next.threshold = fields.threshold;
  if (fields.min_speech_ms !== undefined) next.minSpeechMs = fields.min_speech_ms;
  if (fields.max_utterance_ms !== undefined) next.maxUtteranceMs = fields.max_utterance_ms;
  return next;
}

export function turnFieldsOf(t: TurnSettings) {
  return {
    speculate_ms: t.speculateMs,
    end_of_turn_ms: t.endOfTurnMs,
    sentence_end_ms: t.sentenceEndMs,
    eager_end_ms: t.eagerEndMs,
    pre_roll_ms: t.preRollMs,
    threshold: t.threshold,
    min_speech_ms: t.minSpeechMs,
    max_utterance_ms: t.maxUtteranceMs,
  };
}
