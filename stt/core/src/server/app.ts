import Fastify, { type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import websocket from '@fastify/websocket';
import type { WebSocket, RawData } from 'ws';
import type { Logger } from 'pino';
import {
  clientMessageSchema,
  describeIssues,
  FLUSH_COMMAND,
  type ErrorMessage,
  type TranscribeServerMessage,
} from '../protocol/messages.js';
import type { SileroModel } from '../vad/silero.js';
import { hardPayloadLimit, type Limits } from './limits.js';
import type { Metrics } from './metrics.js';
import { formatFromQuery } from './query_format.js';
import { TranscribeSession } from './transcribe_session.js';
import type { Transcriber } from './transcriber.js';

export interface ServiceState {
  /** Set once the model loaded and the warm-up decode succeeded. */
  transcriber?: Transcriber;
  vad?: SileroModel;
  status: 'loading' | 'ready' | 'failed';
  detail: Record<string, unknown>;
}

export interface AppOptions {
  name: string;
  logger: Logger;
  limits: Limits;
  metrics: Metrics;
  state: ServiceState;
}

function toBuffer(data: RawData): Buffer {
  if (Buffer.isBuffer(data)) return data;
  if (Array.isArray(data)) return Buffer.concat(data);
  return Buffer.from(data);
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
    if (state.transcriber) metrics.queueDepth.set(state.transcriber.queue.depth);
    return reply.type(metrics.registry.contentType).send(await metrics.registry.metrics());
  });

  let open = 0;
  app.get('/ws/transcribe', { websocket: true }, (socket: WebSocket, request) => {
    const send = (message: TranscribeServerMessage) => {
      if (socket.readyState === socket.OPEN) socket.send(JSON.stringify(message));
    };
    const refuse = (reason: string) => {
      metrics.errors.inc({ code: 'refused' });
      socket.close(1013, reason.slice(0, 120)); // close reasons are limited to 123 bytes
    };
    const transcriber = state.transcriber;
    if (!transcriber) return refuse(`model is ${state.status}; try again shortly`);
    if (open >= limits.maxConnections) return refuse(`server busy: ${limits.maxConnections} connections (STT_MAX_CONNECTIONS)`);

    let session: TranscribeSession;
    try {
      session = new TranscribeSession(
        transcriber,
        limits,
        formatFromQuery(request.query as Record<string, unknown>),
        state.vad ? () => state.vad!.createStream() : undefined,
      );
    } catch (error) {
      send({ type: 'error', code: 'bad_message', error: (error as Error).message });
      socket.close(1008, 'bad query string');
      return;
    }
    open++;
    metrics.connections.set(open);

    const fail = (message: ErrorMessage) => {
      metrics.errors.inc({ code: message.code });
      send(message);
    };

    socket.on('message', (data: RawData, isBinary: boolean) => {
      if (isBinary) {
        const refused = session.append(toBuffer(data));
        if (refused) fail(refused);
        return;
      }
      const text = toBuffer(data).toString('utf8');
      if (text === FLUSH_COMMAND) {
        const receivedAt = performance.now();
        void session.flush(receivedAt).then((reply) => {
          if (reply.type === 'error') {
            metrics.requests.inc({ outcome: reply.code === 'overloaded' ? 'overloaded' : 'error' });
            fail(reply);
          } else {
            metrics.requests.inc({ outcome: reply.text ? 'text' : 'empty' });
            metrics.latency.observe(reply.latency_ms / 1000);
            send(reply);
          }
        });
        return;
      }
      let json: unknown;
      try {
        json = JSON.parse(text);
      } catch {
        return fail({
          type: 'error',
          code: 'bad_message',
          error: `unknown command ${JSON.stringify(text.slice(0, 40))}: send binary PCM, "${FLUSH_COMMAND}", or a JSON message with type "config" or "reset"`,
        });
      }
      const parsed = clientMessageSchema.safeParse(json);
      if (!parsed.success) return fail({ type: 'error', code: 'bad_message', error: `invalid message: ${describeIssues(parsed.error)}` });
      const reply = parsed.data.type === 'config' ? session.configure(parsed.data) : session.reset();
      if (reply.type === 'error') fail(reply);
      else send(reply);
    });

    socket.on('close', () => {
      open--;
      metrics.connections.set(open);
      session.close();
    });
    socket.on('error', (error) => logger.warn({ err: error }, 'websocket error'));
  });

  return app;
}
