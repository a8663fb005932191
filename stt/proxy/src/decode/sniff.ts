/**
 * The container a file really is, from its first bytes: what the REST routes trust instead of the
 * declared content type or file name. `ffmpegFormat` is ffmpeg's demuxer for it, always passed with
 * `-f`: ffmpeg never probes an upload, because probing is how a playlist or concat script hidden
 * behind a known magic (an HLS playlist after an ID3 tag) gets ffmpeg to open other files.
 */
export interface Container {
  name: 'wav' | 'mp3' | 'aac' | 'flac' | 'ogg' | 'webm' | 'mp4' | 'mpeg' | 'mpegts';
  ffmpegFormat: 'wav' | 'mp3' | 'aac' | 'flac' | 'ogg' | 'matroska' | 'mov' | 'mpeg' | 'mpegts';
}

export const SUPPORTED_TYPES = 'wav, mp3, mp4, m4a, mpeg, mpga, webm, ogg (opus or vorbis), flac';

const ascii = (b: Uint8Array, at: number, text: string) => b.length >= at + text.length && [...text].every((c, i) => b[at + i] === c.charCodeAt(0));

/** Tags stacked before the audio; real files carry one, rarely two. */
const MAX_ID3_TAGS = 4;

/**
 * Where the audio starts behind leading ID3v2 tags: each is a 10-byte header whose size is 4
 * "syncsafe" bytes (7 bits each), plus a 10-byte footer when flag 0x10 is set. A size byte with its
 * top bit set is not syncsafe: the tag is not real and the scan stops there.
 */
function afterId3(b: Uint8Array): number {
  let at = 0;
  for (let n = 0; n < MAX_ID3_TAGS && ascii(b, at, 'ID3') && b.length >= at + 10; n++) {
    const size = b.subarray(at + 6, at + 10);
    if (size.some((byte) => byte >= 0x80)) break;
    at += 10 + ((size[0]! << 21) | (size[1]! << 14) | (size[2]! << 7) | size[3]!) + (b[at + 5]! & 0x10 ? 10 : 0);
  }
  return at;
}

/** A frame-sync stream at `at`: ADTS (AAC) or a plausible MPEG audio frame header (MP1/2/3). */
function frameStream(b: Uint8Array, at: number): Container | undefined {
  if (b.length < at + 4 || b[at] !== 0xff || (b[at + 1]! & 0xe0) !== 0xe0) return undefined;
  // Layer bits 00 are ADTS (AAC), anything else an MPEG audio frame.
  if ((b[at + 1]! & 0x06) === 0) return { name: 'aac', ffmpegFormat: 'aac' };
  // Valid bitrate and sample-rate indexes, so random bytes starting 0xFFEx are not taken for a frame.
  const bitrate = b[at + 2]! >> 4;
  const rate = (b[at + 2]! >> 2) & 3;
  if (bitrate !== 0 && bitrate !== 15 && rate !== 3) return { name: 'mp3', ffmpegFormat: 'mp3' };
  return undefined;
}

export function sniffContainer(b: Uint8Array): Container | undefined {
  if (ascii(b, 0, 'RIFF') && ascii(b, 8, 'WAVE')) return { name: 'wav', ffmpegFormat: 'wav' };
  if (ascii(b, 0, 'RF64') && ascii(b, 8, 'WAVE')) return { name: 'wav', ffmpegFormat: 'wav' };
  if (ascii(b, 0, 'ID3')) {
    // An ID3 tag may precede MP3, AAC or FLAC: the magic behind it names the demuxer (each of
    // these skips the tag itself). Anything else is taken for MP3, whose demuxer resyncs past padding.
    const at = afterId3(b);
    if (ascii(b, at, 'fLaC')) return { name: 'flac', ffmpegFormat: 'flac' };
    return frameStream(b, at) ?? { name: 'mp3', ffmpegFormat: 'mp3' };
  }
  if (ascii(b, 0, 'fLaC')) return { name: 'flac', ffmpegFormat: 'flac' };
  if (ascii(b, 0, 'OggS')) return { name: 'ogg', ffmpegFormat: 'ogg' };
  if (b.length >= 4 && b[0] === 0x1a && b[1] === 0x45 && b[2] === 0xdf && b[3] === 0xa3) return { name: 'webm', ffmpegFormat: 'matroska' };
  if (ascii(b, 4, 'ftyp')) return { name: 'mp4', ffmpegFormat: 'mov' };
  if (b.length >= 4 && b[0] === 0 && b[1] === 0 && b[2] === 1 && b[3] === 0xba) return { name: 'mpeg', ffmpegFormat: 'mpeg' };
  if (b.length >= 189 && b[0] === 0x47 && b[188] === 0x47) return { name: 'mpegts', ffmpegFormat: 'mpegts' };
  return frameStream(b, 0);
}

/** What the first bytes look like, for an error message about a file nobody recognises. */
export function describeStart(b: Uint8Array): string {
  const head = Buffer.from(b.subarray(0, 8));
  const printable = [...head].every((c) => c >= 0x20 && c < 0x7f);
  return printable ? `"${head.toString('latin1')}"` : head.toString('hex').replace(/(..)(?!$)/g, '$1 ');
}
