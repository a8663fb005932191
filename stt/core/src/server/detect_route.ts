import { detectConfigMessageSchema, type DetectConfigMessage } from '../protocol/messages.js';
import type { RouteContext } from './context.js';
import { DetectSession } from './detect_session.js';
import { formatFromQuery } from '../protocol/query_format.js';
import type { SocketPeer, SocketProtocol } from './socket_route.js';

interface DetectConnection {
  session: DetectSession;
  peer: SocketPeer;
}

/** `/ws/detect`: every binary chunk answered at once with `speech_detected`; JSON config tunes hysteresis. */
export function detectProtocol({ state, limits, metrics }: RouteContext): SocketProtocol<DetectConnection, DetectConfigMessage> {
  return {
    unavailable: () => (state.detect ? undefined : `detector is ${state.status}; try again shortly`),
    open(peer, query) {
      const settings = state.detect!.settings;
      const session = new DetectSession(
        settings.detector === 'whisper' ? undefined : state.vad!.createStream(),
        settings,
        formatFromQuery(query),
        limits,
        state.verifier,
        metrics,
      );
      return { session, peer };
    },
    binary({ session, peer }, frame) {
      const began = performance.now();
      return session.process(frame).then(
        (reply) => {
          if (reply.type === 'error') return peer.fail(reply);
          metrics.requests.inc({ outcome: reply.speech_detected ? 'speech' : 'silence' });
          metrics.latency.observe((performance.now() - began) / 1000);
          peer.send(reply);
        },
        // The founding document's contract for an exception: {"error": ...}, and keep serving.
        (error: Error) => peer.fail({ type: 'error', code: 'engine_error', error: `detection failed: ${error.message}` }),
      );
    },
    control: {
      schema: detectConfigMessageSchema,
      usage: 'send binary PCM chunks, or {"type":"config", ...}',
      handle({ session, peer }, message) {
        const reply = session.configure(message);
        if (reply.type === 'error') peer.fail(reply);
        else peer.send(reply);
      },
    },
    close: ({ session }) => session.close(),
  };
}
