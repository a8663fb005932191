import { bytesPerFrame, formatFromQuery, readWavLayout, wavEncoding, type PcmFormat, type WavLayout } from '@vtuber-stt/core';
import { AudioDecodeError } from './errors.js';
import { decodeWithFfmpeg, FFMPEG_OUTPUT, MAX_DOWNMIX_CHANNELS, type DecodeLogger } from './ffmpeg.js';
import { oggChannels } from './ogg_channels.js';
import { describeStart, sniffContainer, SUPPORTED_TYPES } from './sniff.js';

/**
 * Audio ready for a transcription service: PCM bytes in a format its `/ws/transcribe` query
 * string can declare. The proxy never resamples: the service converts on arrival, chunk by chunk,
 * so the proxy's event loop does no per-sample work and the work is bounded by the real duration.
 */
export interface UpstreamAudio {
  pcm: Buffer;
  format: PcmFormat;
}

export interface DecodeSettings {
  maxSeconds: number;
  timeoutMs: number;
  ffmpegPath?: string;
  /** Where the decoder's reasons for refusing a file go (the client gets one generic answer). */
  logger?: DecodeLogger;
}

/** What the services take in a query string; more channels go through ffmpeg's downmix to mono. */
const MAX_CHANNELS = 8;

/** Content types that name WAV: a body declared so must be one. */
const WAV_TYPES = new Set(['audio/wav', 'audio/x-wav', 'audio/wave', 'audio/vnd.wave']);
/** Declared types a body of audio may carry; a body declared as anything else (text, JSON, an image) is refused unread. */
const AUDIO_TYPES = /^((audio|video)\/|application\/octet-stream$)/;

/** A WAV header, its faults worded as the REST routes' own (the OpenAI routes name the `file` param for them). */
function wavLayout(bytes: Uint8Array): WavLayout {
  try {
    return readWavLayout(bytes);
  } catch (error) {
    throw new AudioDecodeError((error as Error).message, 'bad_audio');
  }
}

export function durationOf(audio: UpstreamAudio): number {
  return audio.pcm.length / bytesPerFrame(audio.format) / audio.format.sampleRate;
}

function checkDuration(audio: UpstreamAudio, settings: DecodeSettings): UpstreamAudio {
  if (audio.pcm.length === 0) throw new AudioDecodeError('the file holds no audio samples', 'bad_audio');
  const seconds = durationOf(audio);
  if (seconds > settings.maxSeconds) {
    throw new AudioDecodeError(`the audio is ${seconds.toFixed(1)} s long; at most ${settings.maxSeconds} s is accepted (STT_PROXY_MAX_AUDIO_SECONDS)`, 'audio_too_long');
  }
  return audio;
}

/** Raw PCM described by the query string (`?sample_rate=&encoding=&channels=`). */
export function rawPcm(body: Buffer, query: Record<string, unknown>, settings: DecodeSettings): UpstreamAudio {
  let format: PcmFormat;
  try {
    format = formatFromQuery(query);
  } catch (error) {
    throw new AudioDecodeError((error as Error).message, 'bad_audio');
  }
  const frame = bytesPerFrame(format);
  if (body.length % frame !== 0) {
    throw new AudioDecodeError(`a body of ${body.length} bytes is not a whole number of ${format.encoding} ${format.channels === 1 ? 'mono' : `${format.channels}-channel`} samples (${frame} bytes each)`, 'bad_audio');
  }
  return checkDuration({ pcm: body, format }, settings);
}

/**
 * An audio file of any supported type. WAV with 16-bit or float samples is passed on as it is
 * (no decoder involved); every other type, and WAV with other sample formats, goes through ffmpeg.
 * `declaredType` is the content type the client claimed: a body claimed to be WAV must be one.
 */
export async function audioFile(bytes: Buffer, settings: DecodeSettings, declaredType?: string, signal?: AbortSignal): Promise<UpstreamAudio> {
  if (bytes.length === 0) throw new AudioDecodeError('empty file: send an audio file', 'bad_audio');
  const declared = declaredType?.split(';')[0]!.trim().toLowerCase();
  if (declared && !AUDIO_TYPES.test(declared)) {
    throw new AudioDecodeError(`a body sent as ${declared} is not audio: post audio as a file (audio/*, application/octet-stream) or raw PCM (application/octet-stream with ?sample_rate=&encoding=)`, 'unsupported_media_type');
  }
  const container = sniffContainer(bytes);
  if (declared && WAV_TYPES.has(declared) && container?.name !== 'wav') {
    const what = container ? `an ${container.name.toUpperCase()} file` : `not a WAV file (it starts with ${describeStart(bytes)})`;
    throw new AudioDecodeError(`the body was sent as ${declared} but is ${what}; send it as ${container ? 'application/octet-stream' : 'a real WAV file'}`, 'unsupported_media_type');
  }
  if (!container) {
    throw new AudioDecodeError(`not a recognised audio file (it starts with ${describeStart(bytes)}); supported: ${SUPPORTED_TYPES}`, 'unsupported_format');
  }
  let inputChannels = container.name === 'ogg' ? oggChannels(bytes) : undefined;
  if (container.name === 'wav' && bytes.toString('latin1', 0, 4) === 'RIFF') {
    const wav = wavLayout(bytes);
    inputChannels = wav.channels;
    const encoding = wavEncoding(wav);
    if (encoding && wav.channels <= MAX_CHANNELS) {
      const format: PcmFormat = { sampleRate: wav.sampleRate, encoding, channels: wav.channels };
      const frame = bytesPerFrame(format);
      // A file cut mid-frame loses only that partial frame.
      const usable = wav.dataBytes - (wav.dataBytes % frame);
      return checkDuration({ pcm: bytes.subarray(wav.dataOffset, wav.dataOffset + usable), format }, settings);
    }
  }
  if (inputChannels !== undefined && inputChannels > MAX_DOWNMIX_CHANNELS) {
    throw new AudioDecodeError(`the file has ${inputChannels} channels; at most ${MAX_DOWNMIX_CHANNELS} can be mixed down to mono`, 'bad_audio');
  }
  const pcm = await decodeWithFfmpeg(bytes, { maxSeconds: settings.maxSeconds, timeoutMs: settings.timeoutMs, inputFormat: container.ffmpegFormat, inputChannels, binary: settings.ffmpegPath, logger: settings.logger, signal });
  return checkDuration({ pcm, format: { ...FFMPEG_OUTPUT } }, settings);
}
