import Fastify, { type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import websocket from '@fastify/websocket';
import type { Logger } from 'pino';
import type { SileroModel } from '../vad/silero.js';
import type { DetectSettings } from './detect_session.js';
import { registerDetectRoute } from './detect_route.js';
import { hardPayloadLimit, type Limits } from './limits.js';
import type { Metrics } from './metrics.js';
import { registerTranscribeRoute } from './transcribe_route.js';
import type { Transcriber } from './transcriber.js';
import type { TurnSettings } from '../turns/settings.js';

export type Role = 'transcribe' | 'detect';

export interface ServiceState {
  /** Whisper for /ws/transcribe, once loaded and warmed up. */
  transcriber?: Transcriber;
  /** The detector's Whisper (hybrid and whisper modes), on the same scheduler as the transcriber. */
  verifier?: Transcriber;
  /** Server-side turn defaults for new /ws/transcribe connections. */
  turns: TurnSettings;
  vad?: SileroModel;
  /** Set for the detect role once it can serve. */
  detect?: { settings: DetectSettings };
  status: 'loading' | 'ready' | 'failed';
  detail: Record<string, unknown>;
}

export interface RouteContext {
  state: ServiceState;
  limits: Limits;
  metrics: Metrics;
  logger: Logger;
}

export interface AppOptions extends RouteContext {
  name: string;
  roles: Role[];
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

  app.get('/metrics', async (_request, reply) => {
    const queue = (state.transcriber ?? state.verifier)?.queue;
    if (queue) metrics.queueDepth.set(queue.depth);
    return reply.type(metrics.registry.contentType).send(await metrics.registry.metrics());
  });

  if (options.roles.includes('transcribe')) registerTranscribeRoute(app, options);
  if (options.roles.includes('detect')) registerDetectRoute(app, options);
  return app;
}
