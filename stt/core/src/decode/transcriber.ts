import { msOfSamples as ms, SAMPLE_RATE } from '../audio/format.js';
import { audioCtxFor, type AudioCtxPolicy } from '../engine/audio_ctx.js';
import { tokenBudgetFor } from '../engine/token_budget.js';
import { windowsOf } from '../engine/long_audio.js';
import { AbortedError, higher, InferenceQueue, type JobHandle, type Priority } from '../engine/queue.js';
import type { DecodeOptions, EngineOutput, SpeechEngine } from '../engine/types.js';
import type { TranscriptSegment } from '../protocol/messages.js';
import { isHallucination } from '../text/hallucination.js';
import { cutRepeatedTail, cutSegments, loops } from '../text/repetition.js';
import type { SileroModel } from '../vad/silero.js';
import { findSpeech, type SpeechGate } from '../vad/speech_span.js';
import { WINDOW } from '../vad/silero.js';
import type { Metrics } from '../metrics.js';

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
  /** Word times in each segment's `words`, where the engine gives them. */
  word_timestamps?: boolean;
}

export interface Transcript {
  text: string;
  language: string;
  audio_ms: number;
  /** whisper.cpp alone. */
  inference_ms: number;
  /** Waiting for the engine. */
  queue_ms: number;
  speech_ms: number;
  audio_ctx: number;
  /** The span given to the engine, ms on the utterance's timeline (absent when it never ran). */
  decoded_ms?: [number, number];
  segments: TranscriptSegment[];
  dropped?: 'no_speech' | 'hallucination' | 'reset';
  /** The loop guard tripped: decoded again in the full window (`redecoded`), or still looping and its repeated tail cut (`cut`). */
  repetition?: Repetition;
}

export type Repetition = 'redecoded' | 'cut';

/** One engine run as the scheduler hands it back. */
interface Decoded {
  output: EngineOutput;
  audioCtx: number;
  inferenceMs: number;
  repetition?: Repetition;
}

/**
 * What the engine will be given for an utterance: the speech span of its audio and the decode
 * options. Two plans that are `samePlan` give the engine identical input, so a decode made for
 * one serves the other: that is what lets a speculative decode stand in for the final.
 */
export interface DecodePlan {
  /** Samples of the utterance's audio (start inclusive, end exclusive) that go to the engine. */
  start: number;
  end: number;
  totalSamples: number;
  speechMs: number;
  /** Its end is final: more audio (silence) would not lengthen it. */
  complete: boolean;
  options: Required<RequestOptions>;
}

export function samePlan(a: DecodePlan, b: DecodePlan): boolean {
  return (
    a.start === b.start &&
    a.end === b.end &&
    a.options.language === b.options.language &&
    a.options.prompt === b.options.prompt &&
    a.options.translate === b.options.translate &&
    a.options.word_timestamps === b.options.word_timestamps
  );
}

/** A decode on the scheduler: its handle (promote, cancel) and the transcript it will give. */
export interface ScheduledDecode {
  plan: DecodePlan;
  job: JobHandle<Decoded>;
  transcript: Promise<Transcript>;
}

/** The temperature a looping result is decoded again at: the first step of OpenAI's fallback. */
const RETRY_TEMPERATURE = 0.2;
/** Tokens a warm-up may decode: enough to run the decoder, too few for a loop to cost anything. */
const WARM_UP_TOKENS = 8;


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
 * Utterance in, text out: the VAD gate, silence trimming, encoder sizing, the shared scheduler,
 * and the hallucination filter. Every front end (WebSocket, REST, the detector) goes through it.
 */
export class Transcriber {
  constructor(
    readonly engine: SpeechEngine,
    readonly queue: InferenceQueue,
    private readonly vad: SileroModel | undefined,
    readonly settings: TranscriberSettings,
    private readonly metrics?: Metrics,
  ) {}

  get gatesSpeech(): boolean {
    return this.vad !== undefined && this.settings.vad;
  }

  /** Speech probabilities for audio that did not stream through a session's VAD. */
  async speechProbabilities(pcm: Float32Array): Promise<number[] | undefined> {
    if (!this.gatesSpeech) return undefined;
    return this.vad!.createStream().push(pcm);
  }

  /** The connection's options over the service's defaults. */
  options(request: RequestOptions = {}): Required<RequestOptions> {
    return {
      language: request.language ?? this.settings.language,
      prompt: request.prompt ?? this.settings.prompt,
      translate: request.translate ?? false,
      word_timestamps: request.word_timestamps ?? false,
    };
  }

  /** Where the speech is and how it will be decoded; undefined when the VAD heard none. */
  plan(totalSamples: number, probabilities: readonly number[] | undefined, request: RequestOptions = {}): DecodePlan | undefined {
    const options = this.options(request);
    if (!probabilities || !this.gatesSpeech) return { start: 0, end: totalSamples, totalSamples, speechMs: ms(totalSamples), complete: false, options };
    const span = findSpeech(probabilities, totalSamples, this.settings.gate);
    if (!span) return undefined;
    return { start: span.start, end: span.end, totalSamples, speechMs: ms(span.speechWindows * WINDOW), complete: span.complete, options };
  }

  /** Puts a planned decode of `pcm` (the utterance's audio) on the scheduler. */
  submit(pcm: Float32Array, plan: DecodePlan, priority: Priority = 'final', signal?: AbortSignal, place?: number): ScheduledDecode {
    const audio = pcm.subarray(plan.start, plan.end);
    const spans = windowsOf(audio);
    const job = spans.length === 1 ? this.scheduleDecode(audio, plan.options, priority, signal, place) : this.scheduleWindows(audio, spans, plan.options, priority, signal, place);
    const transcript = job.result.then(({ output, audioCtx, inferenceMs, repetition }) => {
      this.metrics?.inference.observe(inferenceMs / 1000);
      if (repetition) this.metrics?.repetition.inc({ outcome: repetition });
      const result = this.finish(plan, output, audioCtx, inferenceMs, Math.round((job.startedAt ?? job.queuedAt) - job.queuedAt));
      return repetition ? { ...result, repetition } : result;
    });
    transcript.catch(() => undefined); // owners that drop a decode need not await it
    return { plan, job, transcript };
  }

  private scheduleDecode(audio: Float32Array, options: Required<RequestOptions>, priority: Priority, signal?: AbortSignal, place?: number): JobHandle<Decoded> {
    return this.queue.schedule(
      async () => {
        const began = performance.now();
        const decoded = await this.decode(audio, options, signal);
        return { ...decoded, inferenceMs: Math.round(performance.now() - began) };
      },
      { priority, signal, place },
    );
  }

  /**
   * Audio longer than whisper's 30 s window, decoded window by window, each window its own job:
   * between two of them the scheduler serves whatever else came meanwhile (another connection's
   * final waits for one window, not for the whole recording), and the engine never holds more
   * than one window's mel and encoder state. The handle acts for the whole: started when the
   * first window is, promoted and cancelled as one.
   */
  private scheduleWindows(audio: Float32Array, spans: [number, number][], options: Required<RequestOptions>, priority: Priority, signal?: AbortSignal, place?: number): JobHandle<Decoded> {
    let rank = priority;
    const run = ([from, to]: [number, number], at?: number) => this.scheduleDecode(audio.subarray(from, to), options, rank, signal, at);
    const first = run(spans[0]!, place);
    let current = first;
    let cancelled = false;
    const result = (async () => {
      const parts: Decoded[] = [await first.result];
      for (const span of spans.slice(1)) {
        if (cancelled) throw new AbortedError();
        current = run(span);
        parts.push(await current.result);
      }
      return joinWindows(parts, spans);
    })();
    return {
      result,
      queuedAt: first.queuedAt,
      get started() {
        return first.started;
      },
      get startedAt() {
        return first.startedAt;
      },
      // The windows still to come are scheduled at the new class, each within its bound.
      promote(p: Priority) {
        if (!current.promote(p)) return false;
        rank = higher(rank, p);
        return true;
      },
      // A drop mid-way (a speculation overtaken by more speech) stops at the window under way;
      // true only when nothing of it ran, as for a single job.
      cancel: () => {
        cancelled = true;
        return current.cancel() && current === first;
      },
    };
  }

  /** The one-shot path (REST, the detector's checks): plan, decode, filter. */
  async transcribe(
    pcm: Float32Array,
    request: RequestOptions = {},
    signal?: AbortSignal,
    probabilities?: number[],
    priority: Priority = 'final',
  ): Promise<Transcript> {
    this.metrics?.audioSeconds.inc(pcm.length / SAMPLE_RATE);
    if (pcm.length === 0) return this.empty(0, request);
    const probs = probabilities ?? (await this.speechProbabilities(pcm));
    const plan = this.plan(pcm.length, probs, request);
    if (!plan) return { ...this.empty(pcm.length, request), dropped: 'no_speech' };
    return this.submit(pcm, plan, priority, signal).transcript;
  }

  /** An answer for audio the engine never saw. */
  empty(totalSamples: number, request: RequestOptions = {}): Transcript {
    return { text: '', language: this.options(request).language, audio_ms: ms(totalSamples), inference_ms: 0, queue_ms: 0, speech_ms: 0, audio_ctx: 0, segments: [] };
  }

  /**
   * Which language the speech is in, without transcribing it (one encoder pass on what it is
   * given, at low priority); undefined when the engine cannot tell this way.
   */
  identifyLanguage(pcm: Float32Array, signal?: AbortSignal): { job: JobHandle<EngineOutput>; language: Promise<string | undefined> } | undefined {
    if (!this.engine.info.detectsLanguage) return undefined;
    const { audio, options } = this.engineInput(pcm, { ...this.options(), language: 'auto', detectOnly: true });
    const job = this.queue.schedule(() => this.engine.transcribe(audio, options, signal), { priority: 'background', signal });
    const language = job.result.then(
      (output) => (output.language === 'auto' ? undefined : output.language),
      () => undefined,
    );
    return { job, language };
  }

  /** One short decode at start: loads weights into caches and proves the device works. */
  async warmUp(): Promise<number> {
    const noise = new Float32Array(SAMPLE_RATE);
    for (let i = 0; i < noise.length; i++) noise[i] = (Math.random() - 0.5) * 0.01;
    // One pass through encoder and decoder is all a warm-up needs: a few tokens, no loop guard
    // (a model that loops on noise would otherwise run its whole budget at every fallback).
    const { audio, options } = this.engineInput(noise, {
      language: this.settings.language === 'auto' ? 'en' : this.settings.language,
      prompt: '',
      translate: false,
      maxTokens: WARM_UP_TOKENS,
    });
    const began = performance.now();
    await this.engine.transcribe(audio, options);
    return Math.round(performance.now() - began);
  }

  private finish(plan: DecodePlan, output: EngineOutput, audioCtx: number, inferenceMs: number, queueMs: number): Transcript {
    // Times back on the utterance's timeline. whisper.cpp ends a segment without a closing
    // timestamp at its 30 s window, so ends are clamped to the audio that was actually sent.
    const offset = ms(plan.start);
    const span = ms(plan.end - plan.start);
    const segments = output.segments
      .filter((s) => s.text.length > 0 && !isHallucination(s.text, plan.speechMs))
      .map((s) => ({
        ...s,
        start_ms: Math.min(s.start_ms, span) + offset,
        end_ms: Math.min(s.end_ms, span) + offset,
        ...(s.words ? { words: s.words.map((w) => ({ ...w, start_ms: Math.min(w.start_ms, span) + offset, end_ms: Math.min(w.end_ms, span) + offset })) } : {}),
      }));
    const result: Transcript = {
      text: output.text,
      language: output.language,
      audio_ms: ms(plan.totalSamples),
      inference_ms: inferenceMs,
      queue_ms: queueMs,
      speech_ms: plan.speechMs,
      audio_ctx: audioCtx,
      decoded_ms: [offset, ms(plan.end)],
      segments,
    };
    if (isHallucination(output.text, plan.speechMs)) {
      return { ...result, text: '', segments: [], dropped: output.text.trim() ? 'hallucination' : undefined };
    }
    return result;
  }

  /**
   * What the engine is given for `pcm`, on every path: the audio padded past whisper.cpp's 1 s
   * cut-off, the encoder sized to it, decoding bounded by what that much speech can say (a loop
   * stops early); `request` sets the rest and may override any of it.
   */
  private engineInput(pcm: Float32Array, request: Pick<DecodeOptions, 'language' | 'prompt' | 'translate'> & Partial<DecodeOptions>): { audio: Float32Array; options: DecodeOptions } {
    const audio = padForEngine(pcm);
    const options: DecodeOptions = {
      threads: this.settings.threads,
      audioCtx: audioCtxFor(audio.length, this.settings.audioCtx),
      maxTokens: tokenBudgetFor(audio.length),
      ...request,
    };
    return { audio, options };
  }

  /**
   * A transcription, guarded against repetition loops as OpenAI's reference decoder does (text
   * that compresses more than 2.4x): such a result is decoded again in whisper's full 30 s window
   * from the first fallback temperature, and if that loops too, its repeated tail is cut.
   */
  private async decode(
    pcm: Float32Array,
    request: RequestOptions & Pick<DecodeOptions, 'language' | 'prompt' | 'translate'>,
    signal?: AbortSignal,
  ): Promise<{ output: EngineOutput; audioCtx: number; repetition?: Repetition }> {
    const { language, prompt, translate } = request;
    const { audio, options } = this.engineInput(pcm, { language, prompt, translate, words: request.word_timestamps ?? false });
    const audioCtx = options.audioCtx;
    const output = await this.engine.transcribe(audio, options, signal);
    if (!loops(output.text)) return { output, audioCtx };
    const again = await this.engine.transcribe(audio, { ...options, audioCtx: 0, temperature: RETRY_TEMPERATURE }, signal);
    if (!loops(again.text)) return { output: again, audioCtx: 0, repetition: 'redecoded' };
    const { text } = cutRepeatedTail(again.text);
    return { output: { ...again, text, segments: cutSegments(again.segments, text) }, audioCtx: 0, repetition: 'cut' };
  }
}

/** The windows' results as one: text in order, segment times on the whole audio's timeline. */
function joinWindows(parts: Decoded[], spans: [number, number][]): Decoded {
  const shift = <T extends { start_ms: number; end_ms: number }>(t: T, by: number): T => ({ ...t, start_ms: t.start_ms + by, end_ms: t.end_ms + by });
  const segments = parts.flatMap((p, i) => {
    const by = ms(spans[i]![0]);
    return p.output.segments.map((s) => ({ ...shift(s, by), ...(s.words ? { words: s.words.map((w) => shift(w, by)) } : {}) }));
  });
  const repetition = parts.some((p) => p.repetition === 'cut') ? 'cut' : parts.some((p) => p.repetition) ? 'redecoded' : undefined;
  return {
    output: {
      text: parts.map((p) => p.output.text.trim()).filter(Boolean).join(' '),
      language: parts.find((p) => p.output.text.trim())?.output.language ?? parts[0]!.output.language,
      segments,
    },
    // 0 is the full window, the widest there is.
    audioCtx: parts.some((p) => p.audioCtx === 0) ? 0 : Math.max(...parts.map((p) => p.audioCtx)),
    inferenceMs: parts.reduce((sum, p) => sum + p.inferenceMs, 0),
    ...(repetition ? { repetition } : {}),
  };
}
