import { decodePcm, encodeS16le, PcmFormatError } from './pcm.js';
import { bytesPerFrame, MAX_RATE, MIN_RATE, type Encoding } from './format.js';

export interface DecodedWav {
  sampleRate: number;
  channels: number;
  samples: Float32Array; // mono, input rate
}

export interface WavLayout {
  /** WAVE format tag: 1 integer PCM, 3 IEEE float (an EXTENSIBLE file's sub-format). */
  format: number;
  channels: number;
  sampleRate: number;
  bits: number;
  /** Where the sample data starts, and how many bytes of it the file really holds. */
  dataOffset: number;
  dataBytes: number;
}

/** Data sizes that streaming writers put in a header they cannot go back to fix. */
const UNKNOWN_SIZES = new Set([0, 0xffffffff]);

/**
 * Reads a RIFF/WAVE header without touching the samples. Chunks are walked rather than assuming
 * a 44-byte header, because many tools write LIST or fact chunks before `data`; every offset is
 * checked against the real length, so a truncated or lying header is refused with what is
 * wrong, never read past its end. The one WAV reader: the proxy's REST routes, the microphone
 * client's file input and the tests' fixtures all go through it.
 */
export function readWavLayout(bytes: Uint8Array): WavLayout {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const tag = (o: number) => String.fromCharCode(bytes[o]!, bytes[o + 1]!, bytes[o + 2]!, bytes[o + 3]!);
  if (bytes.byteLength < 12) throw new PcmFormatError(`the WAV file is truncated: ${bytes.byteLength} bytes, not even a RIFF header`);
  if ((tag(0) !== 'RIFF' && tag(0) !== 'RF64') || tag(8) !== 'WAVE') throw new PcmFormatError('not a WAV file (missing RIFF/WAVE header)');
  let offset = 12;
  let fmt: Omit<WavLayout, 'dataOffset' | 'dataBytes'> | undefined;
  while (offset + 8 <= bytes.byteLength) {
    const id = tag(offset);
    const size = view.getUint32(offset + 4, true);
    const body = offset + 8;
    if (id === 'fmt ') {
      if (size < 16) throw new PcmFormatError(`the WAV fmt chunk is ${size} bytes; at least 16 are needed`);
      if (body + 16 > bytes.byteLength) throw new PcmFormatError(`the WAV file is truncated inside its fmt chunk (${bytes.byteLength} bytes)`);
      let format = view.getUint16(body, true);
      if (format === 0xfffe && size >= 40 && body + 26 <= bytes.byteLength) format = view.getUint16(body + 24, true); // WAVE_FORMAT_EXTENSIBLE
      fmt = { format, channels: view.getUint16(body + 2, true), sampleRate: view.getUint32(body + 4, true), bits: view.getUint16(body + 14, true) };
    } else if (id === 'data') {
      if (!fmt) throw new PcmFormatError('the WAV data chunk comes before its fmt chunk');
      // Checked before anything else: a rate of 1 Hz would make the conversion to 16 kHz 16000 times the input.
      if (fmt.sampleRate < MIN_RATE || fmt.sampleRate > MAX_RATE) {
        throw new PcmFormatError(`the WAV header says ${fmt.sampleRate} Hz; sample rates from ${MIN_RATE} to ${MAX_RATE} Hz are accepted`);
      }
      if (fmt.channels < 1) throw new PcmFormatError('the WAV header says 0 channels');
      const held = bytes.byteLength - body;
      if (size > held && !UNKNOWN_SIZES.has(size)) {
        throw new PcmFormatError(`the WAV file is truncated: its data chunk declares ${size} bytes, the file holds ${held}`);
      }
      return { ...fmt, dataOffset: body, dataBytes: UNKNOWN_SIZES.has(size) ? held : size };
    }
    offset = body + size + (size % 2);
  }
  throw new PcmFormatError(fmt ? 'the WAV file has no data chunk (truncated?)' : 'the WAV file has no fmt chunk (truncated?)');
}

/** The sample encoding of a WAV layout, when it is one the services take as it is (16-bit integer or 32-bit float PCM). */
export function wavEncoding(wav: Pick<WavLayout, 'format' | 'bits'>): Encoding | undefined {
  return wav.format === 1 && wav.bits === 16 ? 's16le' : wav.format === 3 && wav.bits === 32 ? 'f32le' : undefined;
}

/** A WAV file of 16-bit integer or 32-bit float PCM, mixed to mono at its own rate. */
export function decodeWav(bytes: Uint8Array): DecodedWav {
  const wav = readWavLayout(bytes);
  const encoding = wavEncoding(wav);
  if (!encoding) throw new PcmFormatError(`unsupported WAV sample format (format ${wav.format}, ${wav.bits} bits): use 16-bit PCM or 32-bit float`);
  const format = { sampleRate: wav.sampleRate, encoding, channels: wav.channels };
  const frameBytes = bytesPerFrame(format);
  // A file cut mid-frame loses only that partial frame.
  const usable = wav.dataBytes - (wav.dataBytes % frameBytes);
  const samples = decodePcm(bytes.subarray(wav.dataOffset, wav.dataOffset + usable), format);
  return { sampleRate: wav.sampleRate, channels: wav.channels, samples };
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
