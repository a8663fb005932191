import pino, { type Logger } from 'pino';
import type { FastifyInstance } from 'fastify';
import type { ServiceConfig } from './config.js';
import { chooseDevice, systemProbe, type DeviceProbe } from './engine/device.js';
import { CudaWhisperEngine, loadGpuBinding } from './engine/fugood_engine.js';
import { NapiWhisperEngine } from './engine/napi_engine.js';
import { InferenceQueue } from './engine/queue.js';
import type { Device, SpeechEngine } from './engine/types.js';
import { resolveModel } from './models/store.js';
import { buildApp, type ServiceState } from './server/app.js';
import { createMetrics } from './server/metrics.js';
import { Transcriber } from './server/transcriber.js';
import { SileroModel } from './vad/silero.js';

export interface RunningService {
  app: FastifyInstance;
  url: string;
  state: ServiceState;
  /** Resolves when the model is loaded and warmed up (rejects if that fails). */
  ready: Promise<void>;
  close(): Promise<void>;
}

export interface StartOptions {
  logger?: Logger;
  probe?: DeviceProbe;
}

async function loadEngine(path: string, device: Device, log: Logger): Promise<SpeechEngine> {
  return device === 'gpu' ? CudaWhisperEngine.load(path) : NapiWhisperEngine.load(path, 'cpu', log);
}

/**
 * Starts a transcription service: checks the model and device before listening (so a bad
 * setup fails at once), listens so /health answers during loading, then loads and warms up.
 */
export async function startTranscribeService(config: ServiceConfig, options: StartOptions = {}): Promise<RunningService> {
  const log = options.logger ?? pino({ name: config.name, level: config.logLevel });
  const model = resolveModel(config.model, config.modelDir);
  const choice = await chooseDevice(config.device, options.probe ?? systemProbe(loadGpuBinding));
  if (choice.device === 'cpu' && config.device !== 'cpu') log.warn(choice.reason);

  const metrics = createMetrics(config.name);
  const state: ServiceState = {
    status: 'loading',
    detail: { model: model.entry?.name ?? model.path, device: choice.device, device_reason: choice.reason },
  };
  const app = await buildApp({ name: config.name, logger: log, limits: config.limits, metrics, state });
  await app.listen({ host: config.host, port: config.port });
  const address = app.server.address();
  const port = typeof address === 'object' && address ? address.port : config.port;
  const url = `http://${config.host.includes(':') ? `[${config.host}]` : config.host}:${port}`;

  let engine: SpeechEngine | undefined;
  let vad: SileroModel | undefined;
  const ready = (async () => {
    const settings = {
      threads: config.threads,
      language: config.language,
      prompt: config.prompt,
      audioCtx: { enabled: config.audioCtx, floor: config.audioCtxFloor },
      vad: config.vad,
      gate: config.gate,
    };
    vad = config.vad ? await SileroModel.load() : undefined;
    let device = choice.device;
    engine = await loadEngine(model.path, device, log);
    let transcriber = new Transcriber(engine, new InferenceQueue(config.limits.maxQueue), vad, settings, metrics);
    let warmupMs: number;
    try {
      warmupMs = await transcriber.warmUp();
    } catch (error) {
      // A GPU that loads but fails on first use: `auto` still has the CPU.
      if (device !== 'gpu' || config.device !== 'auto') throw error;
      log.warn({ err: error }, 'GPU warm-up failed; STT_DEVICE=auto falls back to CPU');
      await engine.close().catch(() => undefined);
      device = 'cpu';
      engine = await loadEngine(model.path, device, log);
      transcriber = new Transcriber(engine, new InferenceQueue(config.limits.maxQueue), vad, settings, metrics);
      warmupMs = await transcriber.warmUp();
    }
    state.transcriber = transcriber;
    state.vad = vad;
    state.detail = { ...state.detail, device, backend: engine.info.backend, warmup_ms: warmupMs, language: config.language, threads: config.threads };
    state.status = 'ready';
    log.info(
      `${config.name} ready on ${url.replace(/^http/, 'ws')}/ws/transcribe: model ${engine.info.model} on ${device} (${engine.info.backend}), ${config.threads} threads, warm-up ${warmupMs} ms`,
    );
  })();
  ready.catch((error: Error) => {
    state.status = 'failed';
    state.detail = { ...state.detail, error: error.message };
  });

  return {
    app,
    url,
    state,
    ready,
    async close() {
      await app.close();
      await ready.catch(() => undefined);
      await engine?.close();
      await vad?.release();
    },
  };
}

/** Entry-point main: one line on start, a clear message and non-zero exit on failure, clean stop on signals. */
export async function runServiceMain(config: () => ServiceConfig): Promise<void> {
  let service: RunningService | undefined;
  try {
    const cfg = config();
    service = await startTranscribeService(cfg);
    await service.ready;
  } catch (error) {
    const message = (error as Error).message;
    if ((error as { code?: string }).code?.startsWith('commander.')) process.exit((error as { exitCode?: number }).exitCode ?? 1);
    process.stderr.write(`error: ${message}\n`);
    await service?.close().catch(() => undefined);
    process.exit(1);
  }
  const stop = () => {
    void service!.close().finally(() => process.exit(0));
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}
