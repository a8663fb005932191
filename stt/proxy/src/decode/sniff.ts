/**
 * The container a file really is, from its first bytes: what the REST routes trust instead of the
 * declared content type or file name. `ffmpegFormat` is ffmpeg's demuxer for it, passed with `-f`
 * so that ffmpeg never guesses a format for junk and decodes noise.
 */
export interface Container {
  name: 'wav' | 'mp3' | 'aac' | 'flac' | 'ogg' | 'webm' | 'mp4' | 'mpeg' | 'mpegts';
  ffmpegFormat?: string;
}

export const SUPPORTED_TYPES = 'wav, mp3, mp4, m4a, mpeg, mpga, webm, ogg (opus or vorbis), flac';

const ascii = (b: Uint8Array, at: number, text: string) => b.length >= at + text.length && [...text].every((c, i) => b[at + i] === c.charCodeAt(0));

export function sniffContainer(b: Uint8Array): Container | undefined {
  if (ascii(b, 0, 'RIFF') && ascii(b, 8, 'WAVE')) return { name: 'wav', ffmpegFormat: 'wav' };
  if (ascii(b, 0, 'RF64') && ascii(b, 8, 'WAVE')) return { name: 'wav', ffmpegFormat: 'wav' };
  // An ID3 tag may precede MP3 or (rarely) AAC or FLAC: let ffmpeg look past it.
  if (ascii(b, 0, 'ID3')) return { name: 'mp3' };
  if (ascii(b, 0, 'fLaC')) return { name: 'flac', ffmpegFormat: 'flac' };
  if (ascii(b, 0, 'OggS')) return { name: 'ogg', ffmpegFormat: 'ogg' };
  if (b.length >= 4 && b[0] === 0x1a && b[1] === 0x45 && b[2] === 0xdf && b[3] === 0xa3) return { name: 'webm', ffmpegFormat: 'matroska' };
  if (ascii(b, 4, 'ftyp')) return { name: 'mp4', ffmpegFormat: 'mov' };
  if (b.length >= 4 && b[0] === 0 && b[1] === 0 && b[2] === 1 && b[3] === 0xba) return { name: 'mpeg', ffmpegFormat: 'mpeg' };
  if (b.length >= 189 && b[0] === 0x47 && b[188] === 0x47) return { name: 'mpegts', ffmpegFormat: 'mpegts' };
  if (b.length >= 4 && b[0] === 0xff && (b[1]! & 0xe0) === 0xe0) {
    // Frame sync: layer bits 00 are ADTS (AAC), anything else an MPEG audio frame (MP1/2/3).
    if ((b[1]! & 0x06) === 0) return { name: 'aac', ffmpegFormat: 'aac' };
    // A plausible MPEG frame header: valid bitrate and sample-rate indexes, so random bytes starting 0xFFEx are not taken for one.
    const bitrate = b[2]! >> 4;
    const rate = (b[2]! >> 2) & 3;
    if (bitrate !== 0 && bitrate !== 15 && rate !== 3) return { name: 'mp3', ffmpegFormat: 'mp3' };
  }
  return undefined;
}

/** What the first bytes look like, for an error message about a file nobody recognises. */
export function describeStart(b: Uint8Array): string {
  const head = Buffer.from(b.subarray(0, 8));
  const printable = [...head].every((c) => c >= 0x20 && c < 0x7f);
  return printable ? `"${head.toString('latin1')}"` : head.toString('hex').replace(/(..)(?!$)/g, '$1 ');
}
