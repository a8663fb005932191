import { clientMessageSchema, FLUSH_COMMAND, type ClientMessage, type TranscribeServerMessage } from '../protocol/messages.js';
import type { RouteContext } from './context.js';
import { formatFromQuery, turnsFromQuery } from '../protocol/query_format.js';
import type { SocketPeer, SocketProtocol } from './socket_route.js';
import { TranscribeSession } from './transcribe_session.js';

interface TranscribeConnection {
  session: TranscribeSession;
  peer: SocketPeer;
}

/** `/ws/transcribe`: binary PCM appends, `<flush>` transcribes (or the service ends turns itself), JSON config/reset. */
export function transcribeProtocol({ state, limits, metrics }: RouteContext): SocketProtocol<TranscribeConnection, ClientMessage> {
  return {
    // Ready, not just a transcriber: with both roles the base model is in place while the detector's
    // model still loads and before the VAD is, and a session opened then would refuse server turns
    // for good (1008) or never gate speech. A restarted service must say "try again" (1013) instead.
    unavailable: () => (state.transcriber && state.status === 'ready' ? undefined : `model is ${state.status}; try again shortly`),
    open(peer, query) {
      const emit = (message: TranscribeServerMessage) => {
        if (message.type === 'error') return peer.fail(message);
        if (message.type === 'transcript' && message.final !== false) {
          metrics.requests.inc({ outcome: message.text ? 'text' : 'empty' });
          metrics.latency.observe(message.latency_ms / 1000);
        }
        peer.send(message);
      };
      const session = new TranscribeSession(
        state.transcriber!,
        limits,
        formatFromQuery(query),
        state.vad ? () => state.vad!.createStream() : undefined,
        emit,
        { ...turnsFromQuery(query), settings: state.turns, assistant: state.assistant },
        metrics,
      );
      return { session, peer };
    },
    binary({ session, peer }, frame) {
      const refused = session.append(frame);
      if (refused) peer.fail(refused);
    },
    text({ session }, text) {
      if (text !== FLUSH_COMMAND) return false;
      session.flush(performance.now());
      return true;
    },
    control: {
      schema: clientMessageSchema,
      usage: `send binary PCM, "${FLUSH_COMMAND}", or a JSON message with type "config", "reset", "mute", "unmute", "assistant_speech" or "assistant_audio"`,
      handle({ session, peer }, message) {
        // Reference audio streams as the VTuber plays it: not answered (an error only, once, if it cannot be used).
        if (message.type === 'assistant_audio') return session.reference(message);
        const reply =
          message.type === 'config'
            ? session.configure(message)
            : message.type === 'reset'
              ? session.reset()
              : message.type === 'assistant_speech'
                ? session.speak(message)
                : session.configure({ type: 'config', muted: message.type === 'mute' });
        if (reply.type === 'error') peer.fail(reply);
        else peer.send(reply);
      },
    },
    close: ({ session }) => session.close(),
  };
}
