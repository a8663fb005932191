import { Worker } from 'node:worker_threads';
import { basename } from 'node:path';
import type { Logger } from 'pino';
import { EngineError, type DecodeOptions, type EngineInfo, type EngineOutput, type SpeechEngine, type Device } from './types.js';
import type { WorkerInit, WorkerReply, WorkerRequest } from './napi_worker_protocol.js';

interface Pending {
  resolve: (output: EngineOutput) => void;
  reject: (error: Error) => void;
}

/** Starts a worker and waits until it has loaded the model. */
async function startWorker(init: WorkerInit): Promise<{ worker: Worker; multilingual: boolean }> {
  const worker = new Worker(new URL('./napi_worker.mjs', import.meta.url), { workerData: init });
  const multilingual = await new Promise<boolean>((resolve, reject) => {
    const onMessage = (reply: WorkerReply) => {
      if (reply.type === 'ready') {
        cleanup();
        resolve(reply.multilingual);
      }
    };
    const onError = (error: Error) => {
      cleanup();
      reject(new EngineError(`cannot load model ${init.modelPath}: ${error.message}`, 'model_load_failed'));
    };
    const onExit = (code: number) => {
      cleanup();
      reject(new EngineError(`cannot load model ${init.modelPath}: loader exited with code ${code}`, 'model_load_failed'));
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
  return { worker, multilingual };
}

/**
 * whisper.cpp through @napi-rs/whisper (prebuilt, bare-engine speed on this machine),
 * kept in a worker thread because its whisper_full() blocks the calling thread. A worker that
 * dies fails the job it had and is replaced; the next job waits for the replacement.
 */
export class NapiWhisperEngine implements SpeechEngine {
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  private closed = false;
  private worker!: Worker;
  /** Resolves when a worker is ready to take jobs. */
  private starting: Promise<void> = Promise.resolve();
  /** Workers started after the first (for /ready and tests). */
  restarts = 0;

  private constructor(
    worker: Worker,
    private readonly init: WorkerInit,
    readonly info: EngineInfo,
    private readonly log?: Logger,
  ) {
    this.adopt(worker);
  }

  static async load(modelPath: string, device: Device, log?: Logger): Promise<NapiWhisperEngine> {
    const init: WorkerInit = { modelPath, useGpu: device === 'gpu' };
    const { worker, multilingual } = await startWorker(init);
    return new NapiWhisperEngine(worker, init, { backend: '@napi-rs/whisper', device, model: basename(modelPath), multilingual, detectsLanguage: multilingual }, log);
  }

  private adopt(worker: Worker): void {
    this.worker = worker;
    worker.on('message', (reply: WorkerReply) => {
      if (reply.type === 'result' || reply.type === 'failed') {
        const job = this.pending.get(reply.id);
        this.pending.delete(reply.id);
        if (reply.type === 'result') job?.resolve(reply.output);
        else job?.reject(new EngineError(`whisper.cpp failed: ${reply.message}`));
      }
    });
    worker.on('error', (error) => this.log?.error({ err: error }, 'inference worker error'));
    worker.on('exit', (code) => {
      const error = new EngineError(`inference worker exited (code ${code}); the request was not transcribed`, 'engine_unavailable');
      for (const job of this.pending.values()) job.reject(error);
      this.pending.clear();
      if (this.closed) return;
      this.restarts++;
      this.log?.warn(`inference worker exited (code ${code}); starting another`);
      this.starting = startWorker(this.init).then(
        ({ worker: next }) => this.adopt(next),
        (failure: Error) => {
          this.closed = true;
          this.log?.error({ err: failure }, 'cannot restart the inference worker');
        },
      );
    });
  }

  async transcribe(pcm: Float32Array, options: DecodeOptions): Promise<EngineOutput> {
    // No abort signal: this binding cannot stop a running whisper_full(); callers discard instead.
    await this.starting;
    if (this.closed) throw new EngineError('engine is closed', 'engine_unavailable');
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
    await this.starting;
    await this.worker.terminate();
  }
}
