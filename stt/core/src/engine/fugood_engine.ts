import { basename } from 'node:path';
import { encodeS16le } from '../audio/pcm.js';
import { EngineError, type DecodeOptions, type EngineInfo, type EngineOutput, type SpeechEngine } from './types.js';

/**
 * The GPU backend: @fugood/whisper.node ships prebuilt CUDA builds of whisper.cpp
 * (@fugood/node-whisper-linux-x64-cuda). It is installed in the GPU image only, so it is
 * loaded by name at run time and its absence is a clear start-up error, not a crash.
 */
export const GPU_BINDING = '@fugood/whisper.node';

interface FugoodContext {
  transcribeData(
    audio: ArrayBuffer,
    options: Record<string, unknown>,
  ): { stop: () => Promise<void>; promise: Promise<{ language?: string; result: string; segments: { text: string; t0: number; t1: number }[]; isAborted: boolean }> };
  release(): Promise<void>;
}
interface FugoodModule {
  initWhisper(options: { filePath: string; useGpu?: boolean; useFlashAttn?: boolean }, variant?: string): Promise<FugoodContext>;
}

export async function loadGpuBinding(): Promise<FugoodModule | undefined> {
  try {
    const specifier = GPU_BINDING; // a variable keeps bundlers and tsc from requiring it at build time
    return (await import(specifier)) as FugoodModule;
  } catch {
    return undefined;
  }
}

export class CudaWhisperEngine implements SpeechEngine {
  private constructor(
    private readonly ctx: FugoodContext,
    readonly info: EngineInfo,
  ) {}

  /**
   * `variant` is the prebuilt package flavour: `cuda` (NVIDIA, the default), `vulkan` (other GPUs),
   * or `default` (its CPU build, which is how this adapter was checked on a machine without a GPU).
   */
  static async load(modelPath: string, variant: string = 'cuda'): Promise<CudaWhisperEngine> {
    const binding = await loadGpuBinding();
    if (!binding) throw new EngineError(`the GPU build of whisper.cpp (${GPU_BINDING}) is not installed`, 'gpu_unavailable');
    const ctx = await binding.initWhisper({ filePath: modelPath, useGpu: variant !== 'default', useFlashAttn: variant === 'cuda' }, variant);
    return new CudaWhisperEngine(ctx, {
      backend: `${GPU_BINDING} (${variant})`,
      device: variant === 'default' ? 'cpu' : 'gpu',
      model: basename(modelPath),
      multilingual: !/\.en\b/.test(basename(modelPath)),
    });
  }

  async transcribe(pcm: Float32Array, options: DecodeOptions, signal?: AbortSignal): Promise<EngineOutput> {
    // This binding reads the buffer as 16-bit PCM, and has no audio_ctx option for Whisper (its
    // padded 30 s window costs little on a GPU).
    // Word times (options.words) are not asked of it: its declared result has segment times only,
    // so segments from this engine carry no `words` (the @napi-rs/whisper engine gives them).
    const wire = encodeS16le(pcm);
    const audio = new Uint8Array(wire).buffer;
    const task = this.ctx.transcribeData(audio, {
      language: options.language,
      translate: options.translate,
      maxThreads: options.threads,
      prompt: options.prompt || undefined,
      ...(options.temperature ? { temperature: options.temperature } : {}),
    });
    const stop = () => void task.stop();
    signal?.addEventListener('abort', stop, { once: true });
    try {
      const r = await task.promise;
      return {
        text: r.result.trim(),
        language: options.language === 'auto' ? (r.language ?? 'auto') : options.language,
        // Segment times come in ms already.
        segments: r.segments.map((s) => ({ start_ms: s.t0, end_ms: s.t1, text: s.text.trim() })),
      };
    } finally {
      signal?.removeEventListener('abort', stop);
    }
  }

  close(): Promise<void> {
    return this.ctx.release();
  }
}
