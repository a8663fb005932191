import { SAMPLE_RATE } from '../audio/format.js';
import { audioCtxFor, type AudioCtxPolicy } from '../engine/audio_ctx.js';
import { InferenceQueue } from '../engine/queue.js';
import type { DecodeOptions, SpeechEngine } from '../engine/types.js';
import type { TranscriptSegment } from '../protocol/messages.js';
import { isHallucination } from '../text/hallucination.js';
import type { SileroModel } from '../vad/silero.js';
import { findSpeech, type SpeechGate } from '../vad/speech_span.js';
import { WINDOW } from '../vad/silero.js';
import type { Metrics } from './metrics.js';

export interface TranscriberSettings {
  threads: number;
  language: string;
  prompt: string;
  audioCtx: AudioCtxPolicy;
  /** Silero gate and trim; off sends every flush to Whisper as it is. */
  vad: boolean;
  gate: SpeechGate;
}

export interface RequestOptions {
  language?: string;
  prompt?: string;
  translate?: boolean;
}

export interface Transcript {
  text: string;
  language: string;
  audio_ms: number;
  inference_ms: number;
  speech_ms: number;
  audio_ctx: number;
  segments: TranscriptSegment[];
  dropped?: 'no_speech' | 'hallucination';
}

const ms = (samples: number) => Math.round((samples / SAMPLE_RATE) * 1000);

/**
 * whisper.cpp stops when no more than 1 s of audio remains ahead of its read position, so an
 * utterance of a second or less ("yes", "네") would always come back empty. Shorter audio is
 * padded with silence to this length.
 */
export const MIN_ENGINE_SAMPLES = Math.round(1.2 * SAMPLE_RATE);

function padForEngine(audio: Float32Array): Float32Array {
  if (audio.length >= MIN_ENGINE_SAMPLES) return audio;
  const padded = new Float32Array(MIN_ENGINE_SAMPLES);
  padded.set(audio);
  return padded;
}

/**
 * Utterance in, text out: the VAD gate, silence trimming, encoder sizing, the shared queue,
 * and the hallucination filter. Every front end (WebSocket, REST) goes through this one path.
 */
export class Transcriber {
  constructor(
    readonly engine: SpeechEngine,
    readonly queue: InferenceQueue,
    private readonly vad: SileroModel | undefined,
    readonly settings: TranscriberSettings,
    private readonly metrics?: Metrics,
  ) {}

  /** Speech probabilities for audio that did not stream through a session's VAD. */
  async speechProbabilities(pcm: Float32Array): Promise<number[] | undefined> {
    if (!this.vad || !this.settings.vad) return undefined;
    return this.vad.createStream().push(pcm);
  }

  async transcribe(
    pcm: Float32Array,
    request: RequestOptions = {},
    signal?: AbortSignal,
    probabilities?: number[],
  ): Promise<Transcript> {
    const language = request.language ?? this.settings.language;
    const base: Transcript = { text: '', language, audio_ms: ms(pcm.length), inference_ms: 0, speech_ms: 0, audio_ctx: 0, segments: [] };
    this.metrics?.audioSeconds.inc(pcm.length / SAMPLE_RATE);
    if (pcm.length === 0) return base;

    let start = 0;
    let end = pcm.length;
    let speechMs = ms(pcm.length);
    const probs = probabilities ?? (await this.speechProbabilities(pcm));
    if (probs && this.settings.vad) {
      const span = findSpeech(probs, pcm.length, this.settings.gate);
      if (!span) return { ...base, dropped: 'no_speech' };
      start = span.start;
      end = span.end;
      speechMs = ms(span.speechWindows * WINDOW);
    }

    const began = performance.now();
    const { output, audioCtx } = await this.queue.push(
      () => this.decode(pcm.subarray(start, end), { language, prompt: request.prompt ?? this.settings.prompt, translate: request.translate ?? false }, signal),
      signal,
    );
    const inferenceMs = Math.round(performance.now() - began);
    this.metrics?.inference.observe(inferenceMs / 1000);

    // Times back on the flush's timeline. whisper.cpp ends a segment without a closing timestamp
    // at its 30 s window, so ends are clamped to the audio that was actually sent.
    const offset = ms(start);
    const span = ms(end - start);
    const segments = output.segments
      .filter((s) => s.text.length > 0 && !isHallucination(s.text, speechMs))
      .map((s) => ({ ...s, start_ms: Math.min(s.start_ms, span) + offset, end_ms: Math.min(s.end_ms, span) + offset }));
    const result: Transcript = {
      ...base,
      language: output.language,
      inference_ms: inferenceMs,
      speech_ms: speechMs,
      audio_ctx: audioCtx,
      text: output.text,
      segments,
    };
    if (isHallucination(output.text, speechMs)) {
      return { ...result, text: '', segments: [], dropped: output.text.trim() ? 'hallucination' : undefined };
    }
    return result;
  }

  /** One short decode at start: loads weights into caches and proves the device works. */
  async warmUp(): Promise<number> {
    const noise = new Float32Array(SAMPLE_RATE);
    for (let i = 0; i < noise.length; i++) noise[i] = (Math.random() - 0.5) * 0.01;
    const began = performance.now();
    await this.decode(noise, { language: this.settings.language === 'auto' ? 'en' : this.settings.language, prompt: '', translate: false });
    return Math.round(performance.now() - began);
  }

  /** The one way audio reaches the engine: padded past whisper.cpp's 1 s cut-off, encoder sized to it. */
  private async decode(pcm: Float32Array, request: Pick<DecodeOptions, 'language' | 'prompt' | 'translate'>, signal?: AbortSignal) {
    const audio = padForEngine(pcm);
    const audioCtx = audioCtxFor(audio.length, this.settings.audioCtx);
    const output = await this.engine.transcribe(audio, { ...request, threads: this.settings.threads, audioCtx }, signal);
    return { output, audioCtx };
  }
}
