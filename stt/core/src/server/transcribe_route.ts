import type { FastifyInstance } from 'fastify';
import type { RawData, WebSocket } from 'ws';
import { clientMessageSchema, describeIssues, FLUSH_COMMAND, type TranscribeServerMessage } from '../protocol/messages.js';
import type { RouteContext } from './app.js';
import { formatFromQuery } from './query_format.js';
import { TranscribeSession } from './transcribe_session.js';
import { ConnectionGate, errorReplier, refuseQuery, sendJson, toBuffer } from './ws_common.js';

/** `/ws/transcribe`: binary PCM appends, `<flush>` transcribes, JSON config/reset. */
export function registerTranscribeRoute(app: FastifyInstance, { state, limits, metrics, logger }: RouteContext): void {
  const gate = new ConnectionGate(limits, metrics);
  app.get('/ws/transcribe', { websocket: true }, (socket: WebSocket, request) => {
    const send = (message: TranscribeServerMessage) => sendJson(socket, message);
    const transcriber = state.transcriber;
    if (!gate.admit(socket, transcriber ? undefined : `model is ${state.status}; try again shortly`)) return;

    let session: TranscribeSession;
    try {
      session = new TranscribeSession(
        transcriber!,
        limits,
        formatFromQuery(request.query as Record<string, unknown>),
        state.vad ? () => state.vad!.createStream() : undefined,
      );
    } catch (error) {
      refuseQuery(socket, error);
      return;
    }
    const fail = errorReplier(socket, metrics);

    socket.on('message', (data: RawData, isBinary: boolean) => {
      if (isBinary) {
        const refused = session.append(toBuffer(data));
        if (refused) fail(refused);
        return;
      }
      const text = toBuffer(data).toString('utf8');
      if (text === FLUSH_COMMAND) {
        void session.flush(performance.now()).then((reply) => {
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
    socket.on('close', () => session.close());
    socket.on('error', (error) => logger.warn({ err: error }, 'websocket error'));
  });
}
