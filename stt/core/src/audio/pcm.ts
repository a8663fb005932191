import { bytesPerFrame, type PcmFormat } from './format.js';
import { ServiceError } from '../protocol/errors.js';

export class PcmFormatError extends ServiceError {
  constructor(message: string) {
    super('bad_audio', message);
  }
}

/**
 * Decodes interleaved little-endian PCM into mono float32 at the input rate.
 * Throws when the byte count is not a whole number of frames, so a client that
 * sends half a sample learns at once instead of hearing shifted noise later.
 */
export function decodePcm(bytes: Uint8Array, format: PcmFormat): Float32Array {
  const frameBytes = bytesPerFrame(format);
  if (bytes.byteLength % frameBytes !== 0) {
    throw new PcmFormatError(
      `frame of ${bytes.byteLength} bytes is not a whole number of ${format.encoding} ` +
        `${format.channels === 1 ? 'mono' : `${format.channels}-channel`} samples (${frameBytes} bytes each)`,
    );
  }
  const frames = bytes.byteLength / frameBytes;
  const out = new Float32Array(frames);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const ch = format.channels;
  if (format.encoding === 's16le') {
    for (let i = 0; i < frames; i++) {
      let sum = 0;
      for (let c = 0; c < ch; c++) sum += view.getInt16((i * ch + c) * 2, true);
      out[i] = sum / ch / 32768;
    }
  } else {
    for (let i = 0; i < frames; i++) {
      let sum = 0;
      for (let c = 0; c < ch; c++) sum += view.getFloat32((i * ch + c) * 4, true);
      const v = sum / ch;
      // NaN or out-of-range floats would poison the whole mel spectrogram.
      out[i] = Number.isFinite(v) ? Math.max(-1, Math.min(1, v)) : 0;
    }
  }
  return out;
}

/** Float32 [-1, 1] to s16le bytes: the wire format tests and clients send. */
export function encodeS16le(samples: Float32Array): Buffer {
  const out = Buffer.alloc(samples.length * 2);
  for (let i = 0; i < samples.length; i++) {
    const v = Math.max(-1, Math.min(1, samples[i]!));
    out.writeInt16LE(Math.round(v < 0 ? v * 32768 : v * 32767), i * 2);
  }
  return out;
}

export function concatFloat32(chunks: readonly Float32Array[], total?: number): Float32Array {
  const length = total ?? chunks.reduce((n, c) => n + c.length, 0);
  const out = new Float32Array(length);
  let offset = 0;
  for (const c of chunks) {
    out.set(c, offset);
    offset += c.length;
  }
  return out;
}
