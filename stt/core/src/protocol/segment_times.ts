import type { TranscriptSegment } from './messages.js';

/**
 * Segments (and their words) moved by `byMs` onto another timeline: a server-turn utterance's
 * decode counts from the utterance's start, the connection's clock from its first sample, and a
 * replacement connection's from the replayed audio. Words move with their segment, always.
 */
export function shiftSegments(segments: readonly TranscriptSegment[], byMs: number): TranscriptSegment[] {
  const at = (v: number) => Math.round(v + byMs);
  return segments.map((s) => ({
    ...s,
    start_ms: at(s.start_ms),
    end_ms: at(s.end_ms),
    ...(s.words ? { words: s.words.map((w) => ({ ...w, start_ms: at(w.start_ms), end_ms: at(w.end_ms) })) } : {}),
  }));
}
