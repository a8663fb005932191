/** Whisper and Silero both want 16 kHz mono float32; everything is converted to this once. */
export const SAMPLE_RATE = 16_000;

/** Whole ms of `samples` at SAMPLE_RATE. */
export const msOfSamples = (samples: number) => Math.round((samples / SAMPLE_RATE) * 1000);

/** Whole samples at SAMPLE_RATE in `ms`. */
export const samplesOfMs = (ms: number) => Math.round((ms / 1000) * SAMPLE_RATE);

/** The sample rates every surface accepts (query strings, config messages, WAV headers): telephone to studio. */
export const MIN_RATE = 8000;
export const MAX_RATE = 192_000;

export type Encoding = 's16le' | 'f32le';

export interface PcmFormat {
  sampleRate: number;
  encoding: Encoding;
  channels: number;
}

export const DEFAULT_FORMAT: PcmFormat = { sampleRate: SAMPLE_RATE, encoding: 's16le', channels: 1 };

export function bytesPerSample(encoding: Encoding): number {
  return encoding === 's16le' ? 2 : 4;
}

export function bytesPerFrame(format: PcmFormat): number {
  return bytesPerSample(format.encoding) * format.channels;
}
