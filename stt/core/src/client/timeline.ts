import type { TranscriptSegment } from '../protocol/messages.js';
import { shiftSegments } from '../protocol/segment_times.js';

/**
 * Server-side turns number their offsets from the start of the connection. A replacement
 * connection starts with the replayed audio, so its offsets are moved onto the caller's clock
 * by the offset of that audio.
 */
const FIELDS = ['start_ms', 'end_ms', 'decided_ms', 'at_ms'] as const;

export function shiftTimes(message: Record<string, unknown>, byMs: number): void {
  for (const field of FIELDS) {
    const v = message[field];
    if (typeof v === 'number') message[field] = Math.round(v + byMs);
  }
  const decoded = message.decoded_ms;
  if (Array.isArray(decoded) && decoded.length === 2 && decoded.every((v) => typeof v === 'number')) {
    message.decoded_ms = [Math.round((decoded[0] as number) + byMs), Math.round((decoded[1] as number) + byMs)];
  }
  // Segments come from the service as it sent them: the protocol's shape, words included.
  if (Array.isArray(message.segments)) message.segments = shiftSegments(message.segments as TranscriptSegment[], byMs);
}
