import { decodePcm, decodeWav, encodeS16le, formatFromQuery, resample, SAMPLE_RATE } from '@vtuber-stt/core';

/** A posted WAV file, or raw PCM described by the query string, as 16 kHz mono s16le. */
export function bodyToPcm16k(body: Buffer, query: Record<string, unknown>): Buffer {
  if (body.length >= 12 && body.toString('latin1', 0, 4) === 'RIFF') {
    const wav = decodeWav(body);
    return encodeS16le(resample(wav.samples, wav.sampleRate, SAMPLE_RATE));
  }
  const format = formatFromQuery(query);
  return encodeS16le(resample(decodePcm(body, format), format.sampleRate, SAMPLE_RATE));
}
