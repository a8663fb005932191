import { MAX_RATE, MIN_RATE } from '@vtuber-stt/core';
import { AudioDecodeError } from './errors.js';

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


const bad = (message: string) => new AudioDecodeError(message, 'bad_audio');

/**
 * Reads a RIFF/WAVE header without touching the samples, checking every offset against the real
 * length: a truncated or lying header is refused with what is wrong, never read past its end.
 */
export function readWavLayout(bytes: Uint8Array): WavLayout {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const tag = (o: number) => String.fromCharCode(bytes[o]!, bytes[o + 1]!, bytes[o + 2]!, bytes[o + 3]!);
  if (bytes.byteLength < 12) throw bad(`the WAV file is truncated: ${bytes.byteLength} bytes, not even a RIFF header`);
  let offset = 12;
  let fmt: Omit<WavLayout, 'dataOffset' | 'dataBytes'> | undefined;
  while (offset + 8 <= bytes.byteLength) {
    const id = tag(offset);
    const size = view.getUint32(offset + 4, true);
    const body = offset + 8;
    if (id === 'fmt ') {
      if (size < 16) throw bad(`the WAV fmt chunk is ${size} bytes; at least 16 are needed`);
      if (body + 16 > bytes.byteLength) throw bad(`the WAV file is truncated inside its fmt chunk (${bytes.byteLength} bytes)`);
      let format = view.getUint16(body, true);
      if (format === 0xfffe && size >= 40 && body + 26 <= bytes.byteLength) format = view.getUint16(body + 24, true);
      fmt = { format, channels: view.getUint16(body + 2, true), sampleRate: view.getUint32(body + 4, true), bits: view.getUint16(body + 14, true) };
    } else if (id === 'data') {
      if (!fmt) throw bad('the WAV data chunk comes before its fmt chunk');
      // Checked before anything else: a rate of 1 Hz would make the conversion to 16 kHz 16000 times the input.
      if (fmt.sampleRate < MIN_RATE || fmt.sampleRate > MAX_RATE) {
        throw bad(`the WAV header says ${fmt.sampleRate} Hz; sample rates from ${MIN_RATE} to ${MAX_RATE} Hz are accepted`);
      }
      if (fmt.channels < 1) throw bad('the WAV header says 0 channels');
      const held = bytes.byteLength - body;
      if (size > held && !UNKNOWN_SIZES.has(size)) {
        throw bad(`the WAV file is truncated: its data chunk declares ${size} bytes, the file holds ${held}`);
      }
      return { ...fmt, dataOffset: body, dataBytes: UNKNOWN_SIZES.has(size) ? held : size };
    }
    offset = body + size + (size % 2);
  }
  throw bad(fmt ? 'the WAV file has no data chunk (truncated?)' : 'the WAV file has no fmt chunk (truncated?)');
}
