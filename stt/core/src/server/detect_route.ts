import type { FastifyInstance } from 'fastify';
import type { RawData, WebSocket } from 'ws';
import { describeIssues, detectConfigMessageSchema, type DetectServerMessage } from '../protocol/messages.js';
import type { RouteContext } from './app.js';
import { DetectSession } from './detect_session.js';
import { formatFromQuery } from './query_format.js';
import { ConnectionGate, errorReplier, refuseQuery, sendJson, toBuffer } from './ws_common.js';

/** `/ws/detect`: every binary chunk answered at once with `speech_detected`; JSON config tunes hysteresis. */
export function registerDetectRoute(app: FastifyInstance, { state, limits, metrics, logger }: RouteContext): void {
  const gate = new ConnectionGate(limits, metrics);
  app.get('/ws/detect', { websocket: true }, (socket: WebSocket, request) => {
    const send = (message: DetectServerMessage) => sendJson(socket, message);
    const detect = state.detect;
    if (!gate.admit(socket, detect ? undefined : `detector is ${state.status}; try again shortly`)) return;

    let session: DetectSession;
    try {
      session = new DetectSession(
        detect!.settings.detector === 'whisper' ? undefined : state.vad!.createStream(),
        detect!.settings,
        formatFromQuery(request.query as Record<string, unknown>),
        limits,
        state.verifier,
      );
    } catch (error) {
      refuseQuery(socket, error);
      return;
    }
    const fail = errorReplier(socket, metrics);

    socket.on('message', (data: RawData, isBinary: boolean) => {
      if (isBinary) {
        const began = performance.now();
        session.process(toBuffer(data)).then(
          (reply) => {
            if (reply.type === 'error') return fail(reply);
            metrics.requests.inc({ outcome: reply.speech_detected ? 'speech' : 'silence' });
            metrics.latency.observe((performance.now() - began) / 1000);
            send(reply);
          },
          // The founding document's contract for an exception: {"error": ...}, and keep serving.
          (error: Error) => fail({ type: 'error', code: 'engine_error', error: `detection failed: ${error.message}` }),
        );
        return;
      }
      const text = toBuffer(data).toString('utf8');
      let json: unknown;
      try {
        json = JSON.parse(text);
      } catch {
        return fail({ type: 'error', code: 'bad_message', error: `unknown command ${JSON.stringify(text.slice(0, 40))}: send binary PCM chunks, or {"type":"config", ...}` });
      }
      const parsed = detectConfigMessageSchema.safeParse(json);
      if (!parsed.success) return fail({ type: 'error', code: 'bad_message', error: `invalid message: ${describeIssues(parsed.error)}` });
      const reply = session.configure(parsed.data);
      if (reply.type === 'error') fail(reply);
      else send(reply);
    });
    socket.on('close', () => session.close());
    socket.on('error', (error) => logger.warn({ err: error }, 'websocket error'));
  });
}
