import { decodePcm, encodeS16le, PcmFormatError } from './pcm.js';
import type { Encoding } from './format.js';

export interface DecodedWav {
  sampleRate: number;
  channels: number;
  samples: Float32Array; // mono, input rate
}

/**
 * Reads a RIFF/WAVE file holding 16-bit integer or 32-bit float PCM.
 * Chunks are walked rather than assuming a 44-byte header, because many tools write
 * LIST or fact chunks before `data`.
 */
export function decodeWav(bytes: Uint8Array): DecodedWav {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const tag = (o: number) => String.fromCharCode(bytes[o]!, bytes[o + 1]!, bytes[o + 2]!, bytes[o + 3]!);
  if (bytes.byteLength < 12 || tag(0) !== 'RIFF' || tag(8) !== 'WAVE') {
    throw new PcmFormatError('not a WAV file (missing RIFF/WAVE header)');
  }
  let offset = 12;
  let fmt: { format: number; channels: number; sampleRate: number; bits: number } | undefined;
  while (offset + 8 <= bytes.byteLength) {
    const id = tag(offset);
    const size = view.getUint32(offset + 4, true);
    const body = offset + 8;
    if (id === 'fmt ') {
      if (size < 16) throw new PcmFormatError('WAV fmt chunk is too short');
      let format = view.getUint16(body, true);
      if (format === 0xfffe && size >= 40) format = view.getUint16(body + 24, true); // WAVE_FORMAT_EXTENSIBLE
      fmt = {
        format,
        channels: view.getUint16(body + 2, true),
        sampleRate: view.getUint32(body + 4, true),
        bits: view.getUint16(body + 14, true),
      };
    } else if (id === 'data') {
      if (!fmt) throw new PcmFormatError('WAV data chunk comes before its fmt chunk');
      let encoding: Encoding;
      if (fmt.format === 1 && fmt.bits === 16) encoding = 's16le';
      else if (fmt.format === 3 && fmt.bits === 32) encoding = 'f32le';
      else throw new PcmFormatError(`unsupported WAV sample format (format ${fmt.format}, ${fmt.bits} bits): use 16-bit PCM or 32-bit float`);
      if (fmt.channels < 1 || fmt.sampleRate < 1) throw new PcmFormatError('WAV header has no channels or no sample rate');
      const end = Math.min(bytes.byteLength, body + size);
      const frameBytes = (fmt.bits / 8) * fmt.channels;
      const usable = end - body - ((end - body) % frameBytes); // a truncated file loses only its last partial frame
      const samples = decodePcm(bytes.subarray(body, body + usable), {
        sampleRate: fmt.sampleRate,
        encoding,
        channels: fmt.channels,
      });
      return { sampleRate: fmt.sampleRate, channels: fmt.channels, samples };
    }
    offset = body + size + (size % 2);
  }
  throw new PcmFormatError('WAV file has no data chunk');
}

/** 16 kHz mono s16le WAV bytes, for tests, benchmarks and REST clients. */
export function encodeWav(samples: Float32Array, sampleRate: number): Buffer {
  const data = encodeS16le(samples);
  const header = Buffer.alloc(44);
  header.write('RIFF', 0);
  header.writeUInt32LE(36 + data.length, 4);
  header.write('WAVE', 8);
  header.write('fmt ', 12);
  header.writeUInt32LE(16, 16);
  header.writeUInt16LE(1, 20);
  header.writeUInt16LE(1, 22);
  header.writeUInt32LE(sampleRate, 24);
  header.writeUInt32LE(sampleRate * 2, 28);
  header.writeUInt16LE(2, 32);
  header.writeUInt16LE(16, 34);
  header.write('data', 36);
  header.writeUInt32LE(data.length, 40);
  return Buffer.concat([header, data]);
}
