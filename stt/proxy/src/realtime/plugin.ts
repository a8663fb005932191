import type { FastifyInstance } from 'fastify';
import { registerSocketRoute, type ConnectionGate, type ErrorMessage, type Heartbeat } from '@vtuber-stt/core';
import type { Logger } from 'pino';
import type { SessionHub } from '../sessions/session_hub.js';
import { openedOrReleased, speakOn } from '../sessions/speaker.js';
import { relaySession, type RelayOptions } from '../transcribe_relay.js';
import { clientEventSchema, errorType } from './events.js';
import { RealtimeSession } from './session.js';

export interface RealtimePluginOptions {
  /** Everything a relayed session needs but its query string. */
  relay: Omit<RelayOptions, 'query'>;
  /** Shared with the proxy's other socket routes. */
  gate: ConnectionGate;
  /** Named sessions (`?session=main`): their listeners hear this session's events in our protocol. */
  hub: SessionHub;
  payloadLimit: number;
  heartbeat?: Heartbeat;
  logger: Logger;
}

const USAGE = 'send JSON client events: session.update, input_audio_buffer.append, input_audio_buffer.commit, input_audio_buffer.clear';

/** `/v1/realtime?intent=transcription`: OpenAI Realtime transcription sessions, relayed like /ws/transcribe. */
export async function realtimePlugin(app: FastifyInstance, options: RealtimePluginOptions): Promise<void> {
  registerSocketRoute(
    app,
    '/v1/realtime',
    {
      open(peer, query) {
        if (query.intent !== 'transcription') {
          throw new Error('only transcription sessions are served here: connect to /v1/realtime?intent=transcription');
        }
        let session: RealtimeSession | undefined;
        const { wrap, release } = speakOn(options.hub, query.session, (text) => session?.command(text));
        session = openedOrReleased(
          release,
          () =>
            new RealtimeSession({
              // What the relay sends reaches the adapter, and (named) the session's listeners as it is.
              // A reopened upstream numbers from 1 again: listeners keep counting (and the timeline) across it.
              relay: (client, q, clockBaseMs) => relaySession(wrap(client, clockBaseMs), { ...options.relay, query: q }),
              send: (event) => peer.send(event),
              close: (code, reason) => peer.close(code, reason),
            }),
        );
        return { session, release };
      },
      binary({ session }) {
        session.error('invalid_value', 'binary frames are not part of this protocol: send audio as input_audio_buffer.append events (base64)');
      },
      control: { schema: clientEventSchema, usage: USAGE, handle: ({ session }, event) => session.handle(event) },
      close: ({ session, release }) => {
        session.close();
        release();
      },
      errorShape: (e: ErrorMessage) => ({
        type: 'error',
        event_id: `event_${Date.now().toString(36)}`,
        error: { type: errorType(e.code), code: e.code === 'bad_message' ? 'invalid_request' : e.code, message: e.error, param: null, event_id: null },
      }),
    },
    { gate: options.gate, payloadLimit: options.payloadLimit, heartbeat: options.heartbeat, warn: (err) => options.logger.warn({ err }, 'realtime websocket error') },
  );
}
