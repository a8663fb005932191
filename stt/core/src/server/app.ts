import { basename } from 'node:path';
import Fastify, { type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import websocket from '@fastify/websocket';
import type { RouteContext, Role } from './context.js';
import { detectProtocol } from './detect_route.js';
import { ApiKeys, guardWithApiKeys } from './api_keys.js';
import { guardOrigins, type OriginGuard } from './origin_guard.js';
import { securityHeaders } from './security_headers.js';
import { hardPayloadLimit } from './limits.js';
import { ConnectionGate, registerSocketRoute, socketServerOptions, type SocketRouteOptions } from './socket_route.js';
import { transcribeProtocol } from './transcribe_route.js';
import type { EngineLoad } from '../engine/capacity.js';

export type { Role, RouteContext, ServiceState } from './context.js';

export interface AppOptions extends RouteContext {
  name: string;
  roles: Role[];
  apiKeys?: ApiKeys;
  /** Without keys: which host names and page origins may call (see origin_guard.ts). */
  origins?: OriginGuard;
  /** The engine's load: new sessions are refused past its capacity (at_capacity). */
  load?: EngineLoad;
  /** STT_RELAY_SECRET: a reconnection presenting it resumes a session admitted before. */
  relaySecret?: string;
}

/** An absolute path (a model file given as one) as its base name: where files live is nobody's business. */
const ABSOLUTE_PATH = /(?<![\w:/\\.~-])(?:[A-Za-z]:)?[\\/][^\s"'`:,;()]*[\\/]([^\s"'`:,;()\\/]+)/g;
const publicText = (value: unknown): unknown => (typeof value === 'string' ? value.replace(ABSOLUTE_PATH, '$1') : value);

/** What /ready shows (open even with keys): model names and reasons, never a path on this machine. */
function publicDetail(detail: Record<string, unknown>): Record<string, unknown> {
  const out = Object.fromEntries(Object.entries(detail).map(([key, value]) => [key, publicText(value)]));
  for (const key of ['model', 'detector_model']) if (typeof out[key] === 'string') out[key] = basename(out[key] as string);
  return out;
}

export async function buildApp(options: AppOptions): Promise<FastifyInstance> {
  const { limits, metrics, state, logger } = options;
  const app = Fastify({
    // Request lines for every /metrics scrape drown the useful ones; the service logs its own events.
    loggerInstance: logger.child({}, { level: 'warn' }) as FastifyBaseLogger,
  });
  await app.register(websocket, { options: socketServerOptions(hardPayloadLimit(limits)) });

  securityHeaders(app);
  // Before every route: a refused origin costs nothing else, a WebSocket handshake included.
  if (options.origins && !options.apiKeys?.enabled) guardOrigins(app, options.origins);

  app.get('/health', async () => ({ ok: true, service: options.name }));

  app.get('/ready', async (_request, reply) => {
    // max_connections: what each WebSocket route admits at once, so a proxy keeps its sessions within it.
    const body = { ready: state.status === 'ready', status: state.status, service: options.name, max_connections: limits.maxConnections, ...publicDetail(state.detail) };
    return reply.code(state.status === 'ready' ? 200 : 503).send(body);
  });

  // Everything else is behind the API keys, when there are any.
  await app.register(async (guarded) => {
    if (options.apiKeys) guardWithApiKeys(guarded, options.apiKeys);
    guarded.get('/metrics', async (_request, reply) => {
      const queue = (state.transcriber ?? state.verifier)?.queue;
      if (queue) metrics.queueDepth.set(queue.depth);
      if (options.load) {
        metrics.engineBusy.set(options.load.busy());
        metrics.capacity.set(options.load.capacity() ?? limits.maxConnections);
      }
      return reply.type(metrics.registry.contentType).send(await metrics.registry.metrics());
    });

    // Each route has its own connection limit; the gauge counts both.
    const gates: ConnectionGate[] = [];
    const openSessions = () => gates.reduce((n, g) => n + g.open, 0);
    const route = (): SocketRouteOptions => {
      const gate = new ConnectionGate(
        limits.maxConnections,
        'STT_MAX_CONNECTIONS',
        () => {
          const open = openSessions();
          metrics.connections.set(open);
          metrics.sessions.set(open);
          options.load?.sessions(open);
        },
        () => options.load?.refusal(openSessions()),
      );
      gates.push(gate);
      return {
        gate,
        payloadLimit: hardPayloadLimit(limits),
        heartbeat: limits.heartbeat,
        relaySecret: options.relaySecret,
        countError: (code) => metrics.errors.inc({ code }),
        countRefusal: (reason) => metrics.refused.inc({ reason }),
        warn: (err) => logger.warn({ err }, 'websocket error'),
      };
    };
    if (options.roles.includes('transcribe')) registerSocketRoute(guarded, '/ws/transcribe', transcribeProtocol(options), route());
    if (options.roles.includes('detect')) registerSocketRoute(guarded, '/ws/detect', detectProtocol(options), route());
  });
  return app;
}
