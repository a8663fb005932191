/**
 * The channel count an Ogg file's first packet declares (Opus or Vorbis identification header), or
 * undefined. Past 8 channels their layout is unknown to ffmpeg, which then cannot downmix without
 * being told how many there are.
 */
export function oggChannels(b: Uint8Array): number | undefined {
  // Page header: 27 bytes, then one lacing byte per segment; the first packet starts after them.
  if (b.length < 27) return undefined;
  const packet = 27 + b[26]!;
  const text = (at: number, length: number) => Buffer.from(b.subarray(packet + at, packet + at + length)).toString('latin1');
  if (text(0, 8) === 'OpusHead') return b[packet + 9];
  if (b[packet] === 1 && text(1, 6) === 'vorbis') return b[packet + 11];
  return undefined;
}
