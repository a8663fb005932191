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
}

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
