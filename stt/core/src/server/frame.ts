import type { PcmFormat } from '../audio/format.js';
import { decodePcm, PcmFormatError } from '../audio/pcm.js';
import type { ErrorMessage } from '../protocol/messages.js';
import type { Limits } from './limits.js';

/** A binary frame checked against the frame limit and decoded, or the error reply that refuses it. */
export function decodeFrame(frame: Uint8Array, format: PcmFormat, limits: Limits): Float32Array | ErrorMessage {
  if (frame.byteLength > limits.maxFrameBytes) {
    return {
      type: 'error',
      code: 'frame_too_large',
      error: `frame of ${frame.byteLength} bytes exceeds the ${limits.maxFrameBytes}-byte limit (STT_MAX_FRAME_BYTES); send smaller chunks`,
    };
  }
  try {
    return decodePcm(frame, format);
  } catch (error) {
    if (error instanceof PcmFormatError) return { type: 'error', code: 'bad_audio', error: error.message };
    throw error;
  }
}
