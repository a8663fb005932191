import { ServiceError, type ErrorCode } from '../protocol/errors.js';

export type Device = 'cpu' | 'gpu';

/** What one decode needs; the service fills it from defaults, the connection's config and the audio. */
export interface DecodeOptions {
  /** ISO code (`ko`, `en`, ...) or `auto` for detection. */
  language: string;
  /** Initial prompt: names and words the streamer wants spelled their way. */
  prompt: string;
  threads: number;
  /** Encoder context in frames (20 ms each); 0 keeps whisper's full 30 s window. */
  audioCtx: number;
  translate: boolean;
  /** Word times (whisper.cpp token timestamps, one word per segment internally); engines that cannot give them ignore it. */
  words?: boolean;
  /** Only identify the language (one encoder pass, no text): `language` of the output says which. */
  detectOnly?: boolean;
  /** Sampling temperature to start from (0, greedy, by default); whisper.cpp raises it further itself when a decode fails its checks. */
  temperature?: number;
  /** Most tokens one segment may decode (0 or absent: whisper's own limit, half its text context); engines that cannot bound it ignore it. */
  maxTokens?: number;
}

export interface EngineWord {
  word: string;
  start_ms: number;
  end_ms: number;
}

export interface EngineSegment {
  start_ms: number;
  end_ms: number;
  text: string;
  no_speech_prob?: number;
  avg_logprob?: number;
  /** With DecodeOptions.words, on engines that give word times. */
  words?: EngineWord[];
}

export interface EngineOutput {
  text: string;
  language: string;
  segments: EngineSegment[];
}

export interface EngineInfo {
  backend: string;
  device: Device;
  model: string;
  multilingual: boolean;
  /** The engine can identify the language without transcribing (DecodeOptions.detectOnly). */
  detectsLanguage?: boolean;
}

/**
 * One loaded Whisper model. Implementations must not block the caller's event loop and
 * may assume they are called one job at a time (the inference queue guarantees it).
 */
export interface SpeechEngine {
  readonly info: EngineInfo;
  transcribe(pcm: Float32Array, options: DecodeOptions, signal?: AbortSignal): Promise<EngineOutput>;
  close(): Promise<void>;
}

export class EngineError extends ServiceError {
  constructor(message: string, code: ErrorCode = 'engine_error') {
    super(code, message);
  }
}
