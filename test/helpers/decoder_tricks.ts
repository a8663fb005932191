/**
 * Uploads that try to make ffmpeg read something other than the upload: a playlist, concat script,
 * session description or URL of another file, behind the first bytes of every type the proxy
 * sniffs. Built from a table (magic x trick) so that each new magic or trick covers every other.
 */

/** What a trick points ffmpeg at: a file on the server (present or not), or audio inline. */
export type Trick = (target: string, inline: Buffer) => string;

export const TRICKS: Record<string, Trick> = {
  hls: (target) => playlist(target),
  'file: URL': (target) => playlist(`file:${target}`),
  'subfile URL': (target) => playlist(`subfile,,start,0,end,0,,:${target}`),
  'data: URL': (_, inline) => playlist(`data:audio/mpeg;base64,${inline.toString('base64')}`),
  concat: (target) => `ffconcat version 1.0\nfile '${target}'\n`,
  'sdp/rtp': (target) => `v=0\no=- 0 0 IN IP4 127.0.0.1\ns=${target}\nc=IN IP4 127.0.0.1\nt=0 0\nm=audio 5004 RTP/AVP 0\na=rtpmap:0 PCMU/8000\n`,
};

function playlist(segment: string): string {
  return `#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:30\n#EXT-X-MEDIA-SEQUENCE:0\n#EXTINF:30.0,\n${segment}\n#EXT-X-ENDLIST\n`;
}

/** A 188-byte MPEG-TS packet on PID 0x100 carrying up to 184 bytes. */
function tsPacket(payload: Buffer): Buffer {
  const packet = Buffer.alloc(188, 0xff);
  Buffer.from([0x47, 0x41, 0x00, 0x10]).copy(packet);
  payload.copy(packet, 4, 0, 184);
  return packet;
}

/** A WAVE file whose format tag is MPEG layer 3 (not PCM: it goes to ffmpeg), holding `data`. */
function mp3InWav(data: Buffer): Buffer {
  const fmt = Buffer.alloc(16);
  fmt.writeUInt16LE(0x55, 0);
  fmt.writeUInt16LE(1, 2);
  fmt.writeUInt32LE(16000, 4);
  fmt.writeUInt32LE(4000, 8);
  fmt.writeUInt16LE(1, 12);
  const chunk = (id: string, body: Buffer) => {
    const head = Buffer.alloc(8);
    head.write(id, 'latin1');
    head.writeUInt32LE(body.length, 4);
    return Buffer.concat([head, body, Buffer.alloc(body.length % 2)]);
  };
  const body = Buffer.concat([Buffer.from('WAVE'), chunk('fmt ', fmt), chunk('data', data)]);
  return Buffer.concat([Buffer.from('RIFF'), Buffer.from(Uint32Array.of(body.length).buffer), body]);
}

/** An ADTS header (AAC LC, 44.1 kHz, stereo) whose frame length covers `data`. */
function adts(data: Buffer): Buffer {
  const length = Math.min(7 + data.length, 0x1fff);
  const head = Buffer.from([0xff, 0xf1, 0x50, 0x80 | ((length >> 11) & 3), (length >> 3) & 0xff, ((length & 7) << 5) | 0x1f, 0xfc]);
  return Buffer.concat([head, data]);
}

/** Each magic the proxy sniffs, wrapped around a trick's text the way its container would carry it. */
export const MAGICS: Record<string, (trick: Buffer) => Buffer> = {
  // The exact header: ID3v2.3, no flags, a tag of size 0, then the trick.
  ID3: (t) => Buffer.concat([Buffer.from([0x49, 0x44, 0x33, 0x03, 0, 0, 0, 0, 0, 0]), t]),
  'RIFF/WAVE (MPEG-3 inside)': mp3InWav,
  fLaC: (t) => Buffer.concat([Buffer.from('fLaC'), t]),
  OggS: (t) => Buffer.concat([Buffer.from('OggS'), t]),
  'EBML (webm)': (t) => Buffer.concat([Buffer.from([0x1a, 0x45, 0xdf, 0xa3]), t]),
  'ftyp (mp4)': (t) => Buffer.concat([Buffer.from([0, 0, 0, 0x14]), Buffer.from('ftypisom\0\0\x02\0isom', 'latin1'), t]),
  'MPEG-PS': (t) => Buffer.concat([Buffer.from([0, 0, 1, 0xba]), t]),
  'MPEG-TS': (t) => {
    const packets = [];
    for (let at = 0; at < t.length; at += 184) packets.push(tsPacket(t.subarray(at, at + 184)));
    packets.push(tsPacket(Buffer.alloc(0)));
    return Buffer.concat(packets);
  },
  ADTS: adts,
  // MPEG-1 layer III, 128 kbit/s, 44.1 kHz.
  'MPEG audio frame': (t) => Buffer.concat([Buffer.from([0xff, 0xfb, 0x90, 0x64]), t]),
};

/** Every magic x trick, pointing at `target`. */
export function trickUploads(target: string, inline: Buffer): { label: string; bytes: Buffer }[] {
  return Object.entries(MAGICS).flatMap(([magic, wrap]) =>
    Object.entries(TRICKS).map(([trick, make]) => ({ label: `${trick} behind ${magic}`, bytes: wrap(Buffer.from(make(target, inline), 'latin1')) })),
  );
}
