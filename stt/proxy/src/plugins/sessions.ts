import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { assistantAudioMessageSchema, assistantSpeechMessageSchema, ConnectionGate, describeIssues, isErrorCode, registerSocketRoute, statusOf, type ApiKeys, type ErrorMessage, type SocketPeer } from '@vtuber-stt/core';
import { sessionName, sessionNames } from '../sessions/session_names.js';
import type { ProxyContext } from './context.js';
import { proxyPayloadLimit } from './websocket.js';

const LISTEN_ONLY = 'listeners only listen: audio and commands go to the session\'s own /ws/transcribe connection';
const LISTENER_USAGE = `${LISTEN_ONLY}; a listener may tell the session the VTuber speaks: {"type":"assistant_speech","state":"start","text":"..."}, {"type":"assistant_speech","state":"end"}, {"type":"assistant_audio","audio":"<base64 s16le mono>","sample_rate":24000} (with "session" when it listens to several)`;

/** What a listener (the VTuber's brain) may send for its session: the VTuber's speech and what it plays. */
const listenerMessageSchema = z.discriminatedUnion('type', [
  assistantSpeechMessageSchema.extend({ session: z.string().optional() }),
  assistantAudioMessageSchema.extend({ session: z.string().optional() }),
]);
type ListenerMessage = z.infer<typeof listenerMessageSchema>;

/** `POST /api/sessions/:name/assistant`: `{"state":"start","text":"..."}` is a few KiB at most. */
const ASSISTANT_BODY_LIMIT = 64 * 1024;

const notFound = (name: string): ErrorMessage => ({ type: 'error', code: 'session_not_found', error: `no connection speaks on session "${name}" now` });

interface ListenerConnection {
  peer: SocketPeer;
  names: string[];
  /** Opened with a listen-only key (STT_LISTEN_KEYS): it may not tell the session anything. */
  listenOnly: boolean;
  unsubscribe: () => void;
}

/** What a listener may leave unread before it is closed: it never slows the speaker or another listener. */
const LISTENER_BACKLOG_BYTES = 1024 * 1024;

/**
 * Named sessions. `GET /api/sessions`: each one, live or not, with its listener count.
 * `/ws/events?session=main[,guest]`: listeners of named sessions (the VTuber's brain, a caption
 * overlay, a log). Each hears the session's state, the turn in progress when it joins, then
 * every event as the speaker does, labelled with the session's name. Listeners only listen, but
 * for the VTuber's brain saying the VTuber speaks (`assistant_speech`, `assistant_audio`), which
 * `POST /api/sessions/:name/assistant` says too.
 */
export async function sessionsPlugin(app: FastifyInstance, ctx: ProxyContext & { keys: ApiKeys }): Promise<void> {
  app.setErrorHandler((error, _request, reply) => {
    const e = error as { code?: string; statusCode?: number; message: string };
    if (e.code === 'FST_ERR_CTP_BODY_TOO_LARGE') {
      return reply.code(statusOf('body_too_large')).send({ type: 'error', code: 'body_too_large', error: `the body is larger than ${ASSISTANT_BODY_LIMIT} bytes: send JSON {"state":"start","text":"..."} with at most 4000 characters of text` });
    }
    if (isErrorCode(e.code)) return reply.code(statusOf(e.code)).send({ type: 'error', code: e.code, error: e.message });
    if (e.statusCode === statusOf('unsupported_media_type')) return reply.code(e.statusCode).send({ type: 'error', code: 'unsupported_media_type', error: `${e.message}: send Content-Type: application/json` });
    if (e.statusCode && e.statusCode < 500) return reply.code(e.statusCode).send({ type: 'error', code: 'bad_message', error: e.message });
    ctx.logger.error({ err: error }, 'sessions route failed');
    return reply.code(statusOf('internal_error')).send({ type: 'error', code: 'internal_error', error: `internal error: ${e.message}` });
  });
  app.get('/api/sessions', async () => ({ sessions: ctx.hub.list() }));
  // Push-to-talk and remote mute for a Stream Deck key: one curl line, no body.
  for (const action of ['mute', 'unmute'] as const) {
    app.post<{ Params: { name: string } }>(`/api/sessions/:name/${action}`, async (request, reply) => {
      const name = sessionName(request.params.name);
      if (!ctx.hub.mute(name, action === 'mute')) {
        return reply.code(404).send(notFound(name));
      }
      return { session: name, muted: action === 'mute' };
    });
  }
  // The VTuber's brain says when it speaks, and what: as if the session's connection had sent assistant_speech.
  app.post<{ Params: { name: string } }>('/api/sessions/:name/assistant', { bodyLimit: ASSISTANT_BODY_LIMIT }, async (request, reply) => {
    const name = sessionName(request.params.name);
    const checked = assistantSpeechMessageSchema.omit({ type: true }).safeParse(request.body ?? {});
    if (!checked.success) return reply.code(statusOf('bad_message')).send({ type: 'error', code: 'bad_message', error: `body must be JSON {"state":"start"|"end","text":"..."}: ${describeIssues(checked.error)}` });
    if (!ctx.hub.assistant(name, { type: 'assistant_speech', ...checked.data })) return reply.code(404).send(notFound(name));
    return { session: name, state: checked.data.state };
  });

  registerSocketRoute<ListenerConnection, ListenerMessage>(
    app,
    '/ws/events',
    {
      open(peer, query, request) {
        const names = sessionNames(query.session);
        // Admitted on a listening route: a key that would be refused elsewhere is a listen-only one.
        const listenOnly = ctx.keys.refusal(request)?.code === 'listen_only';
        ctx.metrics.sessions.inc({ route: 'events' });
        return { peer, names, listenOnly, unsubscribe: ctx.hub.listen(names, peer) };
      },
      binary({ peer }) {
        peer.fail({ type: 'error', code: 'bad_message', error: LISTEN_ONLY });
      },
      // The VTuber's speech goes on to its schema; anything else a listener sends is refused here.
      text({ peer }, text) {
        if (text.trimStart().startsWith('{') && /"type"\s*:\s*"assistant_(speech|audio)"/.test(text)) return false;
        peer.fail({ type: 'error', code: 'bad_message', error: LISTENER_USAGE });
        return true;
      },
      control: {
        schema: listenerMessageSchema,
        usage: LISTENER_USAGE,
        handle({ peer, names, listenOnly }, { session, ...message }) {
          if (listenOnly) return peer.fail({ type: 'error', code: 'listen_only', error: 'this key may only listen: telling a session the VTuber speaks needs a key from STT_API_KEYS' });
          const name = session === undefined && names.length === 1 ? names[0] : names.find((n) => n === session);
          if (name === undefined) return peer.fail({ type: 'error', code: 'bad_message', error: `say which session with "session": one of ${names.join(', ')} (the ones this listener hears)` });
          if (!ctx.hub.assistant(name, message)) peer.fail(notFound(name));
        },
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
