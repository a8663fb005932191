import type { FastifyInstance } from 'fastify';
import type { RawData, WebSocket } from 'ws';
import { clientMessageSchema, describeIssues, FLUSH_COMMAND, type TranscribeServerMessage } from '../protocol/messages.js';
import type { RouteContext } from './app.js';
import { formatFromQuery, turnsFromQuery } from './query_format.js';
import { TranscribeSession } from './transcribe_session.js';
import { ConnectionGate, errorReplier, refuseQuery, sendJson, toBuffer } from './ws_common.js';

/** `/ws/transcribe`: binary PCM appends, `<flush>` transcribes (or the service ends turns itself), JSON config/reset. */
export function registerTranscribeRoute(app: FastifyInstance, { state, limits, metrics, logger }: RouteContext): void {
  const gate = new ConnectionGate(limits, metrics);
  app.get('/ws/transcribe', { websocket: true }, (socket: WebSocket, request) => {
    const transcriber = state.transcriber;
    if (!gate.admit(socket, transcriber ? undefined : `model is ${state.status}; try again shortly`)) return;
    const fail = errorReplier(socket, metrics);
    const emit = (message: TranscribeServerMessage) => {
      if (message.type === 'error') return fail(message);
      if (message.type === 'transcript' && message.final !== false) {
        metrics.requests.inc({ outcome: message.text ? 'text' : 'empty' });
        metrics.latency.observe(message.latency_ms / 1000);
      }
      sendJson(socket, message);
    };

    let session: TranscribeSession;
    try {
      const query = request.query as Record<string, unknown>;
      session = new TranscribeSession(
        transcriber!,
        limits,
        formatFromQuery(query),
        state.vad ? () => state.vad!.createStream() : undefined,
        emit,
        { ...turnsFromQuery(query), settings: state.turns },
        metrics,
      );
    } catch (error) {
      refuseQuery(socket, error);
      return;
    }

    socket.on('message', (data: RawData, isBinary: boolean) => {
      if (isBinary) {
        const refused = session.append(toBuffer(data));
        if (refused) fail(refused);
        return;
      }
      const text = toBuffer(data).toString('utf8');
      if (text === FLUSH_COMMAND) return session.flush(performance.now());
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
      else sendJson(socket, reply);
    });
    socket.on('close', () => session.close());
    socket.on('error', (error) => logger.warn({ err: error }, 'websocket error'));
  });
}
