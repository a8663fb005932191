import { Worker } from 'node:worker_threads';
import { basename } from 'node:path';
import type { Logger } from 'pino';
import { EngineError, type DecodeOptions, type EngineInfo, type EngineOutput, type SpeechEngine, type Device } from './types.js';
import type { WorkerInit, WorkerReply, WorkerRequest } from './napi_worker_protocol.js';

interface Pending {
  resolve: (output: EngineOutput) => void;
  reject: (error: Error) => void;
}

/**
 * whisper.cpp through @napi-rs/whisper (prebuilt, bare-engine speed on this machine),
 * kept in a worker thread because its whisper_full() blocks the calling thread.
 */
export class NapiWhisperEngine implements SpeechEngine {
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  private closed = false;

  private constructor(
    private readonly worker: Worker,
    readonly info: EngineInfo,
  ) {
    worker.on('message', (reply: WorkerReply) => {
      if (reply.type === 'result' || reply.type === 'failed') {
        const job = this.pending.get(reply.id);
        this.pending.delete(reply.id);
        if (reply.type === 'result') job?.resolve(reply.output);
        else job?.reject(new EngineError(`whisper.cpp failed: ${reply.message}`));
      }
    });
    worker.on('exit', (code) => {
      const error = new EngineError(`inference worker exited (code ${code})`, 'engine_unavailable');
      for (const job of this.pending.values()) job.reject(error);
      this.pending.clear();
      this.closed = true;
    });
  }

  static async load(modelPath: string, device: Device, log?: Logger): Promise<NapiWhisperEngine> {
    const workerData: WorkerInit = { modelPath, useGpu: device === 'gpu' };
    const worker = new Worker(new URL('./napi_worker.mjs', import.meta.url), { workerData });
    const multilingual = await new Promise<boolean>((resolve, reject) => {
      const onMessage = (reply: WorkerReply) => {
        if (reply.type === 'ready') {
          cleanup();
          resolve(reply.multilingual);
        }
      };
      const onError = (error: Error) => {
        cleanup();
        reject(new EngineError(`cannot load model ${modelPath}: ${error.message}`, 'model_load_failed'));
      };
      const onExit = (code: number) => {
        cleanup();
        reject(new EngineError(`cannot load model ${modelPath}: loader exited with code ${code}`, 'model_load_failed'));
      };
      const cleanup = () => {
        worker.off('message', onMessage);
        worker.off('error', onError);
        worker.off('exit', onExit);
      };
      worker.on('message', onMessage);
      worker.on('error', onError);
      worker.on('exit', onExit);
    });
    worker.on('error', (error) => log?.error({ err: error }, 'inference worker error'));
    return new NapiWhisperEngine(worker, {
      backend: '@napi-rs/whisper',
      device,
      model: basename(modelPath),
      multilingual,
    });
  }

  transcribe(pcm: Float32Array, options: DecodeOptions): Promise<EngineOutput> {
    // No abort signal: this binding cannot stop a running whisper_full(); callers discard instead.
    if (this.closed) return Promise.reject(new EngineError('engine is closed', 'engine_unavailable'));
    const id = this.nextId++;
    return new Promise<EngineOutput>((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      const copy = pcm.slice(); // transferred to the worker; the caller keeps its own buffer
      const request: WorkerRequest = { id, pcm: copy, options };
      this.worker.postMessage(request, [copy.buffer]);
    });
  }

  async close(): Promise<void> {
    this.closed = true;
    await this.worker.terminate();
  }
}
