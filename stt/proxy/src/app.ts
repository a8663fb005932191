import Fastify, { type FastifyBaseLogger, type FastifyInstance, type FastifyRequest } from 'fastify';
import websocket from '@fastify/websocket';
import type { Logger } from 'pino';
import type { Backend } from './backend.js';
import { memberWaiter, type Backends } from './backend_pool.js';
import type { ProxyConfig } from './config.js';
import { healthPlugin, metricsPlugin } from './plugins/health.js';
import { ApiKeys, closeCodeOf, ConnectionGate, guardOrigins, guardWithApiKeys, OriginGuard, securityHeaders, socketServerOptions, type ErrorCode } from '@vtuber-stt/core';
import { openAIErrorBody } from './openai_errors.js';
import { captionsPlugin } from './plugins/captions.js';
import { sessionsPlugin } from './plugins/sessions.js';
import { createMetrics, type ProxyContext } from './plugins/context.js';
import { openaiPlugin } from './plugins/openai.js';
import { panelPlugin } from './plugins/panel.js';
import { restPlugin } from './plugins/rest.js';
import { statusPlugin } from './plugins/status.js';
import { proxyPayloadLimit, relayOptions, websocketPlugin } from './plugins/websocket.js';
import { realtimePlugin } from './realtime/plugin.js';
import { chooseTranscriber } from './router.js';
import { SessionHub } from './sessions/session_hub.js';
import { committedTurn, WebhookSender } from './sessions/webhook.js';
import type { ToggleStore } from './toggle_store.js';

/**
 * The listener's own limits, HTTP or HTTPS alike (with STT_TLS_CERT fastify hands `https`, not
 * `http`, to the server): a TLS handshake is bounded like the request that follows it.
 */
function serverOptions(config: ProxyConfig) {
  const limits = { headersTimeout: config.bodyTimeoutMs, connectionsCheckingInterval: Math.min(1000, Math.max(25, config.bodyTimeoutMs / 4)) };
  return config.tls ? { https: { ...limits, ...config.tls, handshakeTimeout: config.bodyTimeoutMs } } : { http: limits };
}

/** Routes that only read a named session: a listen-only key (STT_LISTEN_KEYS) passes there. */
const LISTEN_ROUTES = new Set(['/ws/events']);

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
  const app = Fastify({
    loggerInstance: logger.child({}, { level: 'warn' }) as FastifyBaseLogger,
    bodyLimit: config.maxBodyBytes,
    // A request (headers and body) must arrive within STT_PROXY_BODY_TIMEOUT_MS: a stalled or
    // 1 byte/s upload is answered 408 and closed instead of holding a socket for ever.
    requestTimeout: config.bodyTimeoutMs,
    ...serverOptions(config),
  });
  // WebSocket support is shared infrastructure: any surface may declare `{ websocket: true }` routes.
  await app.register(websocket, {
    options: socketServerOptions(proxyPayloadLimit(config)),
    // Sessions end with a code and a reason a client can act on, not a bare close.
    preClose(done) {
      for (const c of app.websocketServer.clients) c.close(closeCodeOf('shutting_down'), 'stt_proxy is shutting down; reconnect');
      app.websocketServer.close();
      done();
    },
  });

  const metrics = createMetrics();
  const webhook = config.webhook
    ? new WebhookSender({ ...config.webhook, logger, onDropped: () => metrics.requests.inc({ route: 'webhook', backend: 'none', outcome: 'dropped' }) })
    : undefined;
  if (webhook) app.addHook('onClose', async () => webhook.close());
  const choose = (avoid?: Backend) => chooseTranscriber(backends, toggle, avoid);
  const ctx: ProxyContext = {
    config,
    backends,
    toggle,
    logger,
    metrics,
    choose,
    waitForMember: memberWaiter(choose, config.retry.retryDelayMs, (surface) => {
      metrics.held.inc({ surface });
      logger.info({ surface }, `no transcription member is ready: holding the ${surface} request up to ${config.holdMs} ms for one to come back (STT_PROXY_HOLD_MS)`);
    }, config.maxHeldRequests),
    gate: new ConnectionGate(config.maxConnections, 'STT_PROXY_MAX_CONNECTIONS', (open) => metrics.sessions.set({ route: 'all' }, open)),
    hub: new SessionHub(webhook && ((session, key, final) => webhook.send(key, committedTurn(session, final)))),
  };
  const keys = new ApiKeys(config.apiKeys, config.maxKeyFailures, config.listenKeys);
  // Every refusal in the surface's own shape: OpenAI's under /v1, the project's elsewhere.
  const errorBody = (code: ErrorCode, message: string, request: FastifyRequest) =>
    request.url.startsWith('/v1/') ? openAIErrorBody(code, message) : { type: 'error', code, error: message };
  securityHeaders(app);
  // Without keys, only the stack's own host names and pages may call (DNS rebinding, other sites'
  // pages): checked before every route, a WebSocket handshake before its upgrade.
  if (!keys.enabled) guardOrigins(app, new OriginGuard(config), errorBody);

  await app.register(healthPlugin, ctx); //      /health /ready: open to probes
  // The page itself must load to ask for a key; it holds nothing but the panel's code.
  await app.register(panelPlugin, ctx); //       / (the control panel)
  // The caption overlay's page holds only its code: the text comes over /ws/events, behind the keys.
  await app.register(captionsPlugin); //          /captions (an OBS browser source)
  // Everything else sits behind the API keys when there are any: one hook, in this scope.
  await app.register(async (guarded) => {
    guardWithApiKeys(guarded, keys, errorBody, LISTEN_ROUTES);
    await guarded.register(metricsPlugin, ctx); //   /metrics
    await guarded.register(statusPlugin, ctx); //    /api/status, /api/gpu
    await guarded.register(restPlugin, ctx); //      POST /api/transcribe
    await guarded.register(openaiPlugin, { ...ctx, prefix: '/v1' }); // /v1/audio/*, /v1/models
    await guarded.register(websocketPlugin, ctx); // /ws/transcribe, /ws/detect
    await guarded.register(sessionsPlugin, { ...ctx, keys }); //  /ws/events, /api/sessions: named sessions and their listeners
    // OpenAI Realtime transcription sessions: /v1/realtime?intent=transcription.
    await guarded.register(realtimePlugin, {
      relay: relayOptions(ctx, 'realtime'),
      hub: ctx.hub,
      gate: ctx.gate,
      payloadLimit: proxyPayloadLimit(config),
      heartbeat: config.heartbeat,
      logger,
    });
  });
  return app;
}
