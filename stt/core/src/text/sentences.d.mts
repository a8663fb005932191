import type { EngineSegment } from '../engine/types.js';

/** Whether text ends a sentence (an ellipsis does not). */
export function endsSentence(text: string): boolean;

/** Word-level pieces (one word each, times in ms) into sentence segments carrying their words. */
export function sentencesOf(pieces: ReadonlyArray<{ start_ms: number; end_ms: number; text: string }>): EngineSegment[];
