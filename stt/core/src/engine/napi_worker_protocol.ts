import type { DecodeOptions, EngineOutput } from './types.js';

/** Messages between NapiWhisperEngine and napi_worker.mjs. */
export interface WorkerInit {
  modelPath: string;
  useGpu: boolean;
}
export type WorkerRequest = { id: number; pcm: Float32Array; options: DecodeOptions };
export type WorkerReply =
  | { type: 'ready'; multilingual: boolean }
  | { type: 'result'; id: number; output: EngineOutput }
  | { type: 'failed'; id: number; message: string };
