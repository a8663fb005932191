import type { ProxyConfig } from '../config.js';
import { audioFile, rawPcm, type DecodeSettings, type UpstreamAudio } from './audio_input.js';
import { AudioDecodeError } from './errors.js';
import type { DecodeLogger } from './ffmpeg.js';
import { sniffContainer } from './sniff.js';

export function decodeSettings(config: ProxyConfig, logger?: DecodeLogger): DecodeSettings {
  return { maxSeconds: config.maxAudioSeconds, timeoutMs: config.decodeTimeoutMs, ffmpegPath: config.ffmpegPath, logger };
}

const WAV_TYPES = /^audio\/(x-)?wave?$|^audio\/vnd\.wave$/;
/** Content types under which a body without a container is taken as raw PCM (format from the query). */
const RAW_TYPES = /^(application\/octet-stream|audio\/(l16|pcm|raw|x-raw))$/;

/**
 * A `/api/transcribe` body: any audio file (the real container is sniffed, never assumed from the
 * content type), or raw PCM described by `?sample_rate=&encoding=&channels=`.
 */
export function requestAudio(body: Buffer, query: Record<string, unknown>, contentType: string | undefined, settings: DecodeSettings, signal?: AbortSignal): Promise<UpstreamAudio> | UpstreamAudio {
  if (body.length === 0) throw new AudioDecodeError('empty body: post an audio file, or raw PCM with ?sample_rate=&encoding=', 'bad_audio');
  const type = contentType?.split(';')[0]!.trim().toLowerCase() ?? '';
  const declaresFormat = ['sample_rate', 'encoding', 'channels'].some((k) => query[k] !== undefined);
  const container = sniffContainer(body);
  // Raw PCM can begin with bytes that look like a frame header; a declared format wins over all but WAV.
  if (container && (container.name === 'wav' || !declaresFormat)) return audioFile(body, settings, type, signal);
  if (WAV_TYPES.test(type)) return audioFile(body, settings, type, signal);
  if (RAW_TYPES.test(type) || declaresFormat) return rawPcm(body, query, settings);
  return audioFile(body, settings, type, signal);
}
