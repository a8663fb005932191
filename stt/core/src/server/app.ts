import Fastify, { type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import websocket from '@fastify/websocket';
import type { RouteContext, Role } from './context.js';
import { detectProtocol } from './detect_route.js';
import { ApiKeys, guardWithApiKeys } from './api_keys.js';
import { hardPayloadLimit } from './limits.js';
import { ConnectionGate, registerSocketRoute, type SocketRouteOptions } from './socket_route.js';
import { transcribeProtocol } from './transcribe_route.js';

export type { Role, RouteContext, ServiceState } from './context.js';

export interface AppOptions extends RouteContext {
  name: string;
  roles: Role[];
  apiKeys?: ApiKeys;
}

export async function buildApp(options: AppOptions): Promise<FastifyInstance> {
  const { limits, metrics, state, logger } = options;
  const app = Fastify({
    // Request lines for every /metrics scrape drown the useful ones; the service logs its own events.
    loggerInstance: logger.child({}, { level: 'warn' }) as FastifyBaseLogger,
  });
  await app.register(websocket, { options: { maxPayload: hardPayloadLimit(limits) } });

  app.get('/health', async () => ({ ok: true, service: options.name }));

  app.get('/ready', async (_request, reply) => {
    const body = { ready: state.status === 'ready', status: state.status, service: options.name, ...state.detail };
    return reply.code(state.status === 'ready' ? 200 : 503).send(body);
  });

  // Everything else is behind the API keys, when there are any.
  await app.register(async (guarded) => {
    if (options.apiKeys) guardWithApiKeys(guarded, options.apiKeys);
    guarded.get('/metrics', async (_request, reply) => {
      const queue = (state.transcriber ?? state.verifier)?.queue;
      if (queue) metrics.queueDepth.set(queue.depth);
      return reply.type(metrics.registry.contentType).send(await metrics.registry.metrics());
    });

    // Each route has its own connection limit; the gauge counts both.
    const gates: ConnectionGate[] = [];
    const route = (): SocketRouteOptions => {
      const gate = new ConnectionGate(limits.maxConnections, 'STT_MAX_CONNECTIONS', () => metrics.connections.set(gates.reduce((n, g) => n + g.open, 0)));
      gates.push(gate);
      return { gate, payloadLimit: hardPayloadLimit(limits), countError: (code) => metrics.errors.inc({ code }), warn: (err) => logger.warn({ err }, 'websocket error') };
    };
    if (options.roles.includes('transcribe')) registerSocketRoute(guarded, '/ws/transcribe', transcribeProtocol(options), route());
    if (options.roles.includes('detect')) registerSocketRoute(guarded, '/ws/detect', detectProtocol(options), route());
  });
  return app;
}
