import { existsSync } from 'node:fs';
import Fastify, { type FastifyBaseLogger, type FastifyInstance, type FastifyReply } from 'fastify';
import websocket from '@fastify/websocket';
import multipart from '@fastify/multipart';
import fastifyStatic from '@fastify/static';
import type { Logger } from 'pino';
import type { WebSocket } from 'ws';
import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';
import { PcmFormatError } from '@vtuber-stt/core';
import { allBackends, type Backend, type Backends } from './backends.js';
import { bodyToPcm16k } from './audio_body.js';
import type { ProxyConfig } from './config.js';
import { pipeDetect } from './detect_relay.js';
import { formatTranscript, RESPONSE_FORMATS, type ResponseFormat } from './openai_format.js';
import { transcribeOnce, UpstreamError } from './rest_transcribe.js';
import { chooseTranscriber } from './router.js';
import type { ToggleStore } from './toggle_store.js';
import { relayTranscribe } from './transcribe_relay.js';
import { realtimePlugin } from './realtime/plugin.js';

export interface ProxyDeps {
  config: ProxyConfig;
  backends: Backends;
  toggle: ToggleStore;
  logger: Logger;
}

function sendError(reply: FastifyReply, status: number, code: string, message: string) {
  return reply.code(status).send({ error: message, code });
}

export async function buildProxy({ config, backends, toggle, logger }: ProxyDeps): Promise<FastifyInstance> {
  const app = Fastify({ loggerInstance: logger.child({}, { level: 'warn' }) as FastifyBaseLogger, bodyLimit: config.maxBodyBytes });
  await app.register(websocket, {
    options: { maxPayload: 16 * 1024 * 1024 },
    // Sessions end with a code and a reason a client can act on, not a bare close.
    preClose(done) {
      for (const c of app.websocketServer.clients) c.close(1001, 'stt_proxy is shutting down; reconnect');
      app.websocketServer.close();
      done();
    },
  });
  await app.register(multipart, { limits: { fileSize: config.maxBodyBytes, files: 1 } });

  const registry = new Registry();
  registry.setDefaultLabels({ service: 'stt_proxy' });
  collectDefaultMetrics({ register: registry });
  const requests = new Counter({ name: 'stt_proxy_requests_total', help: 'Requests by route, backend and outcome', labelNames: ['route', 'backend', 'outcome'] as const, registers: [registry] });
  const sessions = new Gauge({ name: 'stt_proxy_sessions', help: 'Open relayed WebSocket sessions', labelNames: ['route'] as const, registers: [registry] });

  const choose = (avoid?: Backend) => chooseTranscriber(backends, toggle, avoid);

  // Everything a body parser does not claim (WAV, raw PCM) arrives as a Buffer.
  app.addContentTypeParser(['audio/wav', 'audio/x-wav', 'audio/wave', 'audio/l16', 'application/octet-stream'], { parseAs: 'buffer' }, (_req, body, done) => done(null, body));

  app.get('/health', async () => ({ ok: true, service: 'stt_proxy' }));
  app.get('/ready', async (_req, reply) => {
    const cpuOrGpu = [backends.cpu, backends.gpu].some((b) => b?.state === 'ready');
    return reply.code(cpuOrGpu ? 200 : 503).send({ ready: cpuOrGpu, service: 'stt_proxy', gpu_enabled: toggle.gpuEnabled });
  });
  app.get('/metrics', async (_req, reply) => reply.type(registry.contentType).send(await registry.metrics()));

  // The background poller keeps this current (STT_PROXY_POLL_MS): a panel refreshing every few
  // seconds costs the backends nothing extra.
  app.get('/api/status', async () => {
    const route = choose();
    return {
      gpu_enabled: toggle.gpuEnabled,
      gpu_available: backends.gpu !== undefined,
      transcribe_route: route.name,
      backends: Object.fromEntries(allBackends(backends).map((b) => [b.name, b.status()])),
    };
  });

  app.get('/api/gpu', async () => ({ enabled: toggle.gpuEnabled, available: backends.gpu !== undefined, ready: backends.gpu?.state === 'ready' }));
  app.put('/api/gpu', async (request, reply) => {
    const body = request.body as { enabled?: unknown } | undefined;
    if (!body || typeof body.enabled !== 'boolean') return sendError(reply, 400, 'bad_request', 'body must be JSON {"enabled": true|false}');
    toggle.setGpuEnabled(body.enabled);
    logger.info(`GPU toggle ${body.enabled ? 'on' : 'off'}`);
    await backends.gpu?.poll();
    return { enabled: toggle.gpuEnabled, available: backends.gpu !== undefined, ready: backends.gpu?.state === 'ready', transcribe_route: choose().name };
  });

  const decodeBody = (reply: FastifyReply, body: Buffer, query: Record<string, unknown>): Buffer | undefined => {
    if (body.length === 0) {
      sendError(reply, 400, 'bad_audio', 'empty body: post a WAV file, or raw PCM with ?sample_rate=&encoding=');
      return undefined;
    }
    try {
      return bodyToPcm16k(body, query);
    } catch (error) {
      const known = error instanceof PcmFormatError || (error as { code?: string }).code === 'bad_message';
      if (!known) throw error;
      sendError(reply, 400, 'bad_audio', (error as Error).message);
      return undefined;
    }
  };

  const upstreamFailed = (reply: FastifyReply, route: string, error: unknown) => {
    if (error instanceof UpstreamError) {
      requests.inc({ route, backend: 'none', outcome: error.code });
      return sendError(reply, error.status, error.code, error.message);
    }
    throw error;
  };

  app.post('/api/transcribe', async (request, reply) => {
    const query = request.query as Record<string, string>;
    if (!Buffer.isBuffer(request.body)) return sendError(reply, 415, 'bad_audio', 'post audio as audio/wav or application/octet-stream');
    const pcm = decodeBody(reply, request.body, query);
    if (!pcm) return reply;
    try {
      const { result, backend } = await transcribeOnce(choose, pcm, { language: query.language, prompt: query.prompt });
      requests.inc({ route: 'rest', backend: backend.name, outcome: 'ok' });
      backend.observe(result.latency_ms);
      return { ...result, backend: backend.name };
    } catch (error) {
      return upstreamFailed(reply, 'rest', error);
    }
  });

  app.post('/v1/audio/transcriptions', async (request, reply) => {
    if (!request.isMultipart()) return sendError(reply, 400, 'bad_request', 'send multipart/form-data with a "file" field (OpenAI audio API)');
    const fields: Record<string, string> = {};
    let file: Buffer | undefined;
    try {
      for await (const part of request.parts()) {
        if (part.type === 'file') {
          if (part.fieldname === 'file') file = await part.toBuffer();
          else await part.toBuffer();
        } else fields[part.fieldname] = String(part.value);
      }
    } catch (error) {
      const tooLarge = (error as { code?: string }).code === 'FST_REQ_FILE_TOO_LARGE';
      return sendError(reply, tooLarge ? 413 : 400, tooLarge ? 'too_large' : 'bad_request', (error as Error).message);
    }
    if (!file) return sendError(reply, 400, 'bad_request', 'missing "file" field');
    if (file.toString('latin1', 0, 4) !== 'RIFF') {
      return sendError(reply, 400, 'unsupported_format', 'only WAV files (16-bit PCM or 32-bit float) are supported; convert with: ffmpeg -i input -ar 16000 -ac 1 out.wav');
    }
    const format = (fields.response_format ?? 'json') as ResponseFormat;
    if (!RESPONSE_FORMATS.includes(format)) return sendError(reply, 400, 'bad_request', `response_format must be one of ${RESPONSE_FORMATS.join(', ')}`);
    const pcm = decodeBody(reply, file, {});
    if (!pcm) return reply;
    try {
      const { result, backend } = await transcribeOnce(choose, pcm, { language: fields.language, prompt: fields.prompt });
      requests.inc({ route: 'openai', backend: backend.name, outcome: 'ok' });
      backend.observe(result.latency_ms);
      const out = formatTranscript(result, format);
      return reply.type(out.type).header('x-stt-backend', backend.name).send(out.body);
    } catch (error) {
      return upstreamFailed(reply, 'openai', error);
    }
  });

  app.get('/ws/transcribe', { websocket: true }, (socket: WebSocket, request) => {
    const query = request.url.includes('?') ? request.url.slice(request.url.indexOf('?')) : '';
    sessions.inc({ route: 'transcribe' });
    socket.on('close', () => sessions.dec({ route: 'transcribe' }));
    relayTranscribe(socket, {
      choose,
      query,
      maxReplayBytes: config.maxReplayBytes,
      logger,
      onReply: (backend, latency) => {
        backend.observe(latency);
        requests.inc({ route: 'ws', backend: backend.name, outcome: 'ok' });
      },
    });
  });

  await app.register(realtimePlugin, {
    relay: {
      choose,
      maxReplayBytes: config.maxReplayBytes,
      logger,
      onReply: (backend, latency) => {
        backend.observe(latency);
        requests.inc({ route: 'realtime', backend: backend.name, outcome: 'ok' });
      },
    },
    maxConnections: 256,
    logger,
  });

  app.get('/ws/detect', { websocket: true }, (socket: WebSocket, request) => {
    if (!backends.detect) {
      socket.close(1013, 'no detection service is configured (STT_DETECT_URL)');
      return;
    }
    const query = request.url.includes('?') ? request.url.slice(request.url.indexOf('?')) : '';
    sessions.inc({ route: 'detect' });
    socket.on('close', () => sessions.dec({ route: 'detect' }));
    pipeDetect(socket, backends.detect, query);
  });

  if (existsSync(config.panelDir)) {
    await app.register(fastifyStatic, { root: config.panelDir, prefix: '/' });
  } else {
    app.get('/', async (_req, reply) =>
      reply.type('text/plain; charset=utf-8').send(`control panel not built: run "npm run build:panel" (looked in ${config.panelDir})\n`),
    );
  }
  return app;
}
