import type { FastifyInstance } from 'fastify';
import { ConnectionGate, registerSocketRoute, type SocketPeer } from '@vtuber-stt/core';
import { sessionName, sessionNames } from '../sessions/session_names.js';
import type { ProxyContext } from './context.js';
import { proxyPayloadLimit } from './websocket.js';

const LISTEN_ONLY = 'listeners only listen: audio and commands go to the session\'s own /ws/transcribe connection';

/** What a listener may leave unread before it is closed: it never slows the speaker or another listener. */
const LISTENER_BACKLOG_BYTES = 1024 * 1024;

/**
 * Named sessions. `GET /api/sessions`: each one, live or not, with its listener count.
 * `/ws/events?session=main[,guest]`: listeners of named sessions (the VTuber's brain, a caption
 * overlay, a log). Each hears the session's state, the turn in progress when it joins, then
 * every event as the speaker does, labelled with the session's name. Listeners only listen.
 */
export async function sessionsPlugin(app: FastifyInstance, ctx: ProxyContext): Promise<void> {
  app.get('/api/sessions', async () => ({ sessions: ctx.hub.list() }));
  // Push-to-talk and remote mute for a Stream Deck key: one curl line, no body.
  for (const action of ['mute', 'unmute'] as const) {
    app.post<{ Params: { name: string } }>(`/api/sessions/:name/${action}`, async (request, reply) => {
      const name = sessionName(request.params.name);
      if (!ctx.hub.mute(name, action === 'mute')) {
        return reply.code(404).send({ type: 'error', code: 'session_not_found', error: `no connection speaks on session "${name}" now` });
      }
      return { session: name, muted: action === 'mute' };
    });
  }

  registerSocketRoute<{ peer: SocketPeer; unsubscribe: () => void }, never>(
    app,
    '/ws/events',
    {
      open(peer, query) {
        const names = sessionNames(query.session);
        ctx.metrics.sessions.inc({ route: 'events' });
        return { peer, unsubscribe: ctx.hub.listen(names, peer) };
      },
      binary({ peer }) {
        peer.fail({ type: 'error', code: 'bad_message', error: LISTEN_ONLY });
      },
      text({ peer }) {
        peer.fail({ type: 'error', code: 'bad_message', error: LISTEN_ONLY });
        return true;
      },
      close({ unsubscribe }) {
        ctx.metrics.sessions.dec({ route: 'events' });
        unsubscribe();
      },
    },
    {
      // Their own limit: listeners (a leaked overlay key, say) can never take the microphone's slots.
      gate: new ConnectionGate(ctx.config.maxListeners, 'STT_PROXY_MAX_LISTENERS'),
      payloadLimit: proxyPayloadLimit(ctx.config),
      maxUnsentBytes: LISTENER_BACKLOG_BYTES,
      heartbeat: ctx.config.heartbeat,
      countError: (code) => ctx.metrics.requests.inc({ route: 'events', backend: 'none', outcome: code }),
      warn: (err) => ctx.logger.warn({ err }, 'events websocket error'),
    },
  );
}
