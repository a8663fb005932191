/**
 * Server-side turns number their offsets from the start of the connection. A replacement
 * connection starts with the replayed audio, so its offsets are moved onto the caller's clock
 * by the offset of that audio.
 */
const FIELDS = ['start_ms', 'end_ms', 'decided_ms'] as const;

export function shiftTimes(message: Record<string, unknown>, byMs: number): void {
  for (const field of FIELDS) {
    const v = message[field];
    if (typeof v === 'number') message[field] = Math.round(v + byMs);
  }
  const decoded = message.decoded_ms;
  if (Array.isArray(decoded) && decoded.length === 2 && decoded.every((v) => typeof v === 'number')) {
    message.decoded_ms = [Math.round((decoded[0] as number) + byMs), Math.round((decoded[1] as number) + byMs)];
  }
  if (Array.isArray(message.segments)) {
    message.segments = message.segments.map((s: Record<string, unknown>) => {
      const out = { ...s };
      if (typeof s.start_ms === 'number') out.start_ms = Math.round(s.start_ms + byMs);
      if (typeof s.end_ms === 'number') out.end_ms = Math.round(s.end_ms + byMs);
      return out;
    });
  }
}
