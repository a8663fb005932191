import { basename } from 'node:path';
import type { Backend } from './backend.js';
import type { Backends } from './backend_pool.js';

/** A loaded model's OpenAI id: `ggml-base.bin` -> `base`. */
export function modelId(file: string): string {
  return basename(file).replace(/^ggml-/, '').replace(/\.bin$/, '');
}

export interface OpenAIModel {
  id: string;
  object: 'model';
  created: number;
  owned_by: string;
  /** An OpenAI name answered by a loaded model: which one (our extension of OpenAI's model object). */
  alias_of?: string;
}

/**
 * The transcription model names OpenAI documents (the `openai` SDK's AudioModel and realtime
 * transcription models): what clients send, so each is listed and answered as an alias of the
 * loaded model. Any other name is still accepted on a request; these are the ones a client may
 * look up first (`models.retrieve('whisper-1')`).
 */
export const OPENAI_MODEL_ALIASES = [
  'whisper-1',
  'gpt-transcribe',
  'gpt-live-transcribe',
  'gpt-4o-transcribe',
  'gpt-4o-mini-transcribe',
  'gpt-4o-mini-transcribe-2025-12-15',
  'gpt-4o-transcribe-diarize',
  'gpt-realtime-whisper',
] as const;

/** The transcription services behind the proxy, one by one (a device may be a pool of several). */
function transcribers(backends: Backends): Backend[] {
  const devices: unknown[] = [backends.cpu, backends.gpu];
  return devices.flatMap((d) => {
    if (!d) return [];
    const pool = d as { all?: () => Backend[] };
    return typeof pool.all === 'function' ? pool.all() : [d as Backend];
  });
}

/** What the ready transcription services have loaded (their /ready detail), one entry per model. */
export function loadedModels(backends: Backends, created: number): OpenAIModel[] {
  const ids = new Set<string>();
  for (const b of transcribers(backends)) {
    const model = b.status().model;
    if (b.state === 'ready' && model) ids.add(modelId(model));
  }
  return [...ids].map((id) => ({ id, object: 'model', created, owned_by: 'vtuber-stt' }));
}

/**
 * `GET /v1/models`: the loaded models, then OpenAI's names as aliases of `usual` (the loaded model
 * the usual route answers them with). With nothing loaded the list is empty: no name is answered.
 */
export function listedModels(backends: Backends, created: number, usual: string | undefined): OpenAIModel[] {
  const loaded = loadedModels(backends, created);
  const target = loaded.find((m) => m.id === usual)?.id ?? loaded[0]?.id;
  if (!target) return [];
  const aliases = OPENAI_MODEL_ALIASES.filter((id) => !loaded.some((m) => m.id === id));
  return [...loaded, ...aliases.map((id): OpenAIModel => ({ id, object: 'model', created, owned_by: 'vtuber-stt', alias_of: target }))];
}

/**
 * The service for a request's `model`: a ready one that has that model loaded, if any; any other
 * value (whisper-1, gpt-4o-transcribe, ...) takes the usual route (undefined here).
 */
export function backendForModel(backends: Backends, model: string | undefined): Backend | undefined {
  if (!model) return undefined;
  return transcribers(backends).find((b) => {
    const loaded = b.status().model;
    return b.state === 'ready' && loaded && modelId(loaded) === model;
  });
}
