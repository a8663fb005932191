import { existsSync } from 'node:fs';
import { homedir } from 'node:os';
import { isAbsolute, join, resolve } from 'node:path';
import { findModel, MODELS, type ModelEntry } from './registry.js';
import { ServiceError } from '../protocol/errors.js';

export function defaultModelDir(env: NodeJS.ProcessEnv = process.env): string {
  if (env.STT_MODEL_DIR) return resolve(env.STT_MODEL_DIR);
  const cache = env.XDG_CACHE_HOME || join(homedir(), '.cache');
  return join(cache, 'vtuber-stt', 'models');
}

export class ModelNotFoundError extends ServiceError {
  constructor(message: string) {
    super('model_missing', message);
  }
}

export interface ResolvedModel {
  path: string;
  entry?: ModelEntry;
}

function looksLikePath(value: string): boolean {
  return isAbsolute(value) || value.includes('/') || value.includes('\\') || value.endsWith('.bin');
}

/**
 * `STT_MODEL` is a registry name (`base`) looked up in the model directory, or a path to a
 * ggml file. A missing model is an error that says exactly how to get it.
 */
export function resolveModel(value: string, modelDir = defaultModelDir()): ResolvedModel {
  const entry = findModel(value);
  if (entry) {
    const path = join(modelDir, entry.file);
    if (!existsSync(path)) {
      throw new ModelNotFoundError(
        `model "${value}" is not in ${modelDir}. Download it with:\n` +
          `  npm run models -- pull ${value}\n` +
          `or point STT_MODEL at a ggml file you already have (STT_MODEL=/path/to/${entry.file}).`,
      );
    }
    return { path, entry };
  }
  if (looksLikePath(value)) {
    const path = resolve(value);
    if (!existsSync(path)) throw new ModelNotFoundError(`model file ${path} does not exist (STT_MODEL=${value})`);
    return { path };
  }
  throw new ModelNotFoundError(
    `unknown model "${value}": use one of ${MODELS.map((m) => m.name).join(', ')}, or a path to a ggml .bin file`,
  );
}
