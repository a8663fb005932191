/**
 * WebSocket close codes that say "this request will never work": the peer refused what was
 * asked (a bad query string, a frame past its limit, data it cannot read). Reconnecting with the
 * same request would only be refused again, so they end a session instead of failing it over.
 */
const PERMANENT = new Set([1002, 1003, 1007, 1008, 1009]);

export function isPermanentClose(code: number): boolean {
  return PERMANENT.has(code);
}

/** Close reasons are limited to 123 bytes of UTF-8; longer ones make `ws` throw. */
export function closeReason(text: string): string {
  const bytes = Buffer.from(text, 'utf8');
  if (bytes.length <= 123) return text;
  // Cut on a character boundary: a partial UTF-8 sequence would be invalid.
  let end = 120;
  while (end > 0 && (bytes[end]! & 0xc0) === 0x80) end--;
  return `${bytes.subarray(0, end).toString('utf8')}...`;
}
