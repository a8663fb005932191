import pino, { type Logger } from 'pino';
import type { FastifyInstance } from 'fastify';
import type { ServiceConfig } from './config.js';
import { chooseDevice, DeviceError, systemProbe, type DeviceProbe } from './engine/device.js';
import { CudaWhisperEngine, loadGpuBinding } from './engine/fugood_engine.js';
import { NapiWhisperEngine } from './engine/napi_engine.js';
import { InferenceQueue } from './engine/queue.js';
import { DEFAULT_CAPACITY, EngineLoad } from './engine/capacity.js';
import type { Device, SpeechEngine } from './engine/types.js';
import { ModelNotFoundError, resolveModel, type ResolvedModel } from './models/store.js';
import { commandLineExitCode, CONFIGURATION_EXIT_CODE } from './settings.js';
import { buildApp } from './server/app.js';
import { ApiKeys, warnIfOpen } from './server/api_keys.js';
import { listensOnLoopback, OriginGuard } from './server/origin_guard.js';
import type { ServiceState } from './server/context.js';
import { DEFAULT_DETECT } from './server/detect_session.js';
import { createMetrics, type Metrics } from './metrics.js';
import { Transcriber, type TranscriberSettings } from './decode/transcriber.js';
import { SileroModel } from './vad/silero.js';

export interface RunningService {
  app: FastifyInstance;
  url: string;
  state: ServiceState;
  /** Resolves when models are loaded and warmed up (rejects if that fails). */
  ready: Promise<void>;
  close(): Promise<void>;
}

export interface StartOptions {
  logger?: Logger;
  probe?: DeviceProbe;
}

async function loadEngine(path: string, device: Device, log: Logger, gpuVariant: ServiceConfig['gpuVariant']): Promise<SpeechEngine> {
  return device === 'gpu' ? CudaWhisperEngine.load(path, gpuVariant) : NapiWhisperEngine.load(path, 'cpu', log);
}

/** Loads Whisper on the chosen device and warms it up; a GPU that fails on first use falls back under `auto`. */
async function loadWhisper(
  config: ServiceConfig,
  model: ResolvedModel,
  device: Device,
  queue: InferenceQueue,
  settings: TranscriberSettings,
  vad: SileroModel | undefined,
  metrics: Metrics,
  log: Logger,
): Promise<{ transcriber: Transcriber; device: Device; warmupMs: number }> {
  let engine = await loadEngine(model.path, device, log, config.gpuVariant);
  let transcriber = new Transcriber(engine, queue, vad, settings, metrics);
  try {
    return { transcriber, device, warmupMs: await transcriber.warmUp() };
  } catch (error) {
    await engine.close().catch(() => undefined);
    if (device !== 'gpu' || config.device !== 'auto') throw error;
    log.warn({ err: error }, 'GPU warm-up failed; STT_DEVICE=auto falls back to CPU');
    engine = await loadEngine(model.path, 'cpu', log, config.gpuVariant);
    transcriber = new Transcriber(engine, queue, vad, settings, metrics);
    return { transcriber, device: 'cpu', warmupMs: await transcriber.warmUp() };
  }
}

/**
 * Starts a service in its roles: checks the models and device before listening (so a bad setup
 * fails at once), listens so /health answers during loading, then loads and warms up. Every
 * Whisper model of the process shares one scheduler: one computation at a time, finals first.
 */
export async function startService(config: ServiceConfig, options: StartOptions = {}): Promise<RunningService> {
  const log = options.logger ?? pino({ name: config.name, level: config.logLevel });
  const transcribe = config.roles.includes('transcribe');
  const detect = config.roles.includes('detect');
  const detectorWhisper = detect && config.detector !== 'silero';
  const needsVad = transcribe ? config.vad : config.detector !== 'whisper';
  const model = transcribe ? resolveModel(config.model, config.modelDir) : undefined;
  // A detect-only service's own model is the detector's; beside transcription it is the tiny one.
  const tinyModel = detectorWhisper ? resolveModel(transcribe ? config.tinyModel : config.model, config.modelDir) : undefined;
  const needsWhisper = model !== undefined || tinyModel !== undefined;
  const choice = needsWhisper ? await chooseDevice(config.device, options.probe ?? systemProbe(loadGpuBinding)) : { device: 'cpu' as const, reason: 'Silero runs on the CPU' };
  if (choice.device === 'cpu' && config.device !== 'cpu' && needsWhisper) log.warn(choice.reason);

  const metrics = createMetrics(config.name);
  const state: ServiceState = {
    status: 'loading',
    turns: config.turns,
    assistant: config.assistant,
    detail: {
      role: config.role,
      roles: config.roles,
      ...(detect ? { detector: config.detector } : {}),
      model: model ? (model.entry?.name ?? model.path) : tinyModel ? (tinyModel.entry?.name ?? tinyModel.path) : null,
      ...(transcribe && tinyModel ? { detector_model: tinyModel.entry?.name ?? tinyModel.path } : {}),
      device: choice.device,
      device_reason: choice.reason,
    },
  };
  const apiKeys = new ApiKeys(config.apiKeys, config.maxKeyFailures);
  // Compose and Kubernetes reach a service by names it cannot know: beyond loopback, any Host.
  const origins = new OriginGuard(config, !listensOnLoopback(config.host));
  // The engine's load, which admission reads (see capacity.ts).
  const load = new EngineLoad(config.limits.capacity ?? DEFAULT_CAPACITY);
  const app = await buildApp({ name: config.name, roles: config.roles, logger: log, limits: config.limits, metrics, state, apiKeys, origins, load, relaySecret: config.relaySecret });
  warnIfOpen(log, config.host, apiKeys.enabled);
  await app.listen({ host: config.host, port: config.port });
  const address = app.server.address();
  const port = typeof address === 'object' && address ? address.port : config.port;
  const url = `http://${config.host.includes(':') ? `[${config.host}]` : config.host}:${port}`;

  let vad: SileroModel | undefined;
  const ready = (async () => {
    vad = needsVad ? await SileroModel.load() : undefined;
    const queue = new InferenceQueue(config.limits.maxQueue);
    const parts: string[] = [];
    const settings: TranscriberSettings = {
      threads: config.threads,
      language: config.language,
      prompt: config.prompt,
      audioCtx: { enabled: config.audioCtx, floor: config.audioCtxFloor, margin: config.audioCtxMargin },
      vad: config.vad,
      gate: config.gate,
    };
    let device = choice.device;
    if (model) {
      const loaded = await loadWhisper(config, model, device, queue, settings, vad, metrics, log);
      state.transcriber = loaded.transcriber;
      device = loaded.device;
      const info = loaded.transcriber.engine.info;
      state.detail = { ...state.detail, device, backend: info.backend, warmup_ms: loaded.warmupMs, language: config.language, threads: config.threads };
      parts.push(`model ${info.model} on ${device} (${info.backend}), ${config.threads} threads, warm-up ${loaded.warmupMs} ms`);
    }
    if (tinyModel) {
      // The detector's Whisper judges audio Silero already gated: no second VAD pass there.
      const loaded = await loadWhisper(config, tinyModel, device, queue, { ...settings, vad: false }, undefined, metrics, log);
      state.verifier = loaded.transcriber;
      const info = loaded.transcriber.engine.info;
      if (!model) state.detail = { ...state.detail, device: loaded.device, backend: info.backend, warmup_ms: loaded.warmupMs, threads: config.threads };
      parts.push(`detector model ${info.model}, warm-up ${loaded.warmupMs} ms`);
    }
    if (vad) {
      await vad.createStream().push(new Float32Array(1024)); // first ONNX run allocates; do it before clients
      state.vad = vad;
    }
    if (detect) {
      state.detect = { settings: { detector: config.detector, tracker: config.tracker, ...DEFAULT_DETECT } };
      parts.unshift(`detector ${config.detector}`);
    }
    // Measured from here: the warm-up is no client's load.
    queue.observer = load;
    state.status = 'ready';
    const routes = config.roles.map((r) => `${url.replace(/^http/, 'ws')}/ws/${r}`).join(' and ');
    log.info(`${config.name} ready on ${routes}: ${parts.join('; ') || 'Silero VAD'}`);
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
      await state.transcriber?.engine.close();
      await state.verifier?.engine.close();
      await vad?.release();
    },
  };
}

/** Entry-point main: one line on start, a clear message and non-zero exit on failure, clean stop on signals. */
export async function runServiceMain(config: () => ServiceConfig): Promise<void> {
  let service: RunningService | undefined;
  let configured = false;
  try {
    const settings = config();
    configured = true;
    service = await startService(settings);
    await service.ready;
  } catch (error) {
    const commandLine = commandLineExitCode(error);
    if (commandLine !== undefined) process.exit(commandLine);
    process.stderr.write(`error: ${(error as Error).message}\n`);
    await service?.close().catch(() => undefined);
    // Settings that do not parse, a model or a device that is not there: a restart would meet them again.
    const permanent = !configured || error instanceof ModelNotFoundError || error instanceof DeviceError;
    process.exit(permanent ? CONFIGURATION_EXIT_CODE : 1);
  }
  const stop = () => {
    void service!.close().finally(() => process.exit(0));
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}
