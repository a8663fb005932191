import Fastify, { type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import websocket from '@fastify/websocket';
import type { Logger } from 'pino';
import type { Backend, Backends } from './backends.js';
import type { ProxyConfig } from './config.js';
import { healthPlugin } from './plugins/health.js';
import { createMetrics, type ProxyContext } from './plugins/context.js';
import { openaiPlugin } from './plugins/openai.js';
import { panelPlugin } from './plugins/panel.js';
import { restPlugin } from './plugins/rest.js';
import { statusPlugin } from './plugins/status.js';
import { websocketPlugin } from './plugins/websocket.js';
import { realtimePlugin } from './realtime/plugin.js';
import { chooseTranscriber } from './router.js';
import type { ToggleStore } from './toggle_store.js';

export interface ProxyDeps {
  config: ProxyConfig;
  backends: Backends;
  toggle: ToggleStore;
  logger: Logger;
}

/**
 * The proxy: one encapsulated fastify plugin per surface, each given the shared context as its
 * options. A hook added inside a plugin (an API key check, say) guards exactly that surface.
 */
export async function buildProxy({ config, backends, toggle, logger }: ProxyDeps): Promise<FastifyInstance> {
  const app = Fastify({ loggerInstance: logger.child({}, { level: 'warn' }) as FastifyBaseLogger, bodyLimit: config.maxBodyBytes });
  // WebSocket support is shared infrastructure: any surface may declare `{ websocket: true }` routes.
  await app.register(websocket, {
    options: { maxPayload: 16 * 1024 * 1024 },
    // Sessions end with a code and a reason a client can act on, not a bare close.
    preClose(done) {
      for (const c of app.websocketServer.clients) c.close(1001, 'stt_proxy is shutting down; reconnect');
      app.websocketServer.close();
      done();
    },
  });

  const ctx: ProxyContext = {
    config,
    backends,
    toggle,
    logger,
    metrics: createMetrics(),
    choose: (avoid?: Backend) => chooseTranscriber(backends, toggle, avoid),
  };

  await app.register(healthPlugin, ctx); //      /health /ready /metrics
  await app.register(statusPlugin, ctx); //      /api/status, /api/gpu
  await app.register(restPlugin, ctx); //        POST /api/transcribe
  await app.register(openaiPlugin, { ...ctx, prefix: '/v1' }); // /v1/audio/*, /v1/models
  await app.register(websocketPlugin, ctx); //   /ws/transcribe, /ws/detect
  // OpenAI Realtime transcription sessions: /v1/realtime?intent=transcription.
  await app.register(realtimePlugin, {
    relay: {
      choose: ctx.choose,
      maxReplayBytes: config.maxReplayBytes,
      logger,
      onReply: (backend, latency) => {
        backend.observe(latency);
        ctx.metrics.requests.inc({ route: 'realtime', backend: backend.name, outcome: 'ok' });
      },
    },
    maxConnections: 256,
    logger,
  });
  await app.register(panelPlugin, ctx); //       / (the control panel)
  return app;
}
