import type { FastifyInstance } from 'fastify';
import { ConnectionGate, formatFromQuery, registerSocketRoute, turnsFromQuery, type SocketRouteOptions } from '@vtuber-stt/core';
import { pipeDetect, type DetectPipe } from '../detect_relay.js';
import { openedOrReleased, speakOn, upstreamQuery } from '../sessions/speaker.js';
import { relaySession, type RelayOptions, type RelaySession } from '../transcribe_relay.js';
import type { ProxyContext } from './context.js';

/** What the proxy's WebSocket server takes at all: past it `ws` closes 1009; between the frame limit and it, an error reply. */
export const proxyPayloadLimit = (config: { maxFrameBytes: number }) => Math.max(config.maxFrameBytes * 4, 16 * 1024 * 1024);

/** What every relayed session (a /ws/transcribe client, a realtime session) is given but its query string. */
export function relayOptions({ config, logger, metrics, choose, waitForMember }: ProxyContext, route: string): Omit<RelayOptions, 'query'> {
  return {
    choose,
    hold: { wait: waitForMember, ms: config.holdMs, surface: route },
    maxReplayBytes: config.maxReplayBytes,
    relaySecret: config.relaySecret,
    idleMs: config.upstreamIdleMs,
    retry: config.retry,
    maxFrameBytes: config.maxFrameBytes,
    logger,
    onReply: (backend, latency) => {
      backend.observe(latency);
      metrics.requests.inc({ route, backend: backend.name, outcome: 'ok' });
    },
    onRefused: () => metrics.refusals.inc({ route, reason: 'at_capacity' }),
  };
}

const queryOf = (url: string) => (url.includes('?') ? url.slice(url.indexOf('?')) : '');

/**
 * `/ws/transcribe` (relayed to the least loaded transcription backend, with failover) and
 * `/ws/detect` (piped to the detection service), on the same socket scaffold as the services:
 * the API key guard of this scope, the connection limit and the close reasons work the same.
 */
export async function websocketPlugin(app: FastifyInstance, ctx: ProxyContext): Promise<void> {
  const { config, backends, logger, metrics } = ctx;
  const route = (name: string): SocketRouteOptions => ({
    gate: ctx.gate,
    payloadLimit: proxyPayloadLimit(config),
    heartbeat: config.heartbeat,
    countError: (code) => metrics.requests.inc({ route: name, backend: 'none', outcome: code }),
    warn: (err) => logger.warn({ err }, `${name} websocket error`),
  });

  registerSocketRoute<{ relay: RelaySession; release(): void }, never>(
    app,
    '/ws/transcribe',
    {
      open(peer, query, request) {
        // Judged here, as the services judge it: the upstream opens only at the first input, and a
        // query string that cannot describe the session must be refused at connect, not later.
        formatFromQuery(query);
        turnsFromQuery(query);
        // Named (?session=main): its listeners hear what this connection is sent.
        let relay: RelaySession | undefined;
        const { wrap, release } = speakOn(ctx.hub, query.session, (text) => relay?.command(text));
        relay = openedOrReleased(release, () => relaySession(wrap(peer), { ...relayOptions(ctx, 'ws'), query: upstreamQuery(request.url) }));
        metrics.sessions.inc({ route: 'transcribe' });
        return { relay, release };
      },
      binary: ({ relay }, frame) => void relay.audio(frame),
      // Text goes to the backend as it is: it judges config and reset itself, once.
      text: ({ relay }, text) => {
        relay.text(text);
        return true;
      },
      close({ relay, release }) {
        metrics.sessions.dec({ route: 'transcribe' });
        relay.close();
        release();
      },
    },
    route('ws'),
  );

  registerSocketRoute<DetectPipe, never>(
    app,
    '/ws/detect',
    {
      unavailable: () => (backends.detect ? undefined : 'no detection service is configured (STT_DETECT_URL)'),
      open(peer, _query, request) {
        metrics.sessions.inc({ route: 'detect' });
        return pipeDetect(peer, backends.detect!, queryOf(request.url), config.maxFrameBytes);
      },
      // Each frame's work lasts until the service has answered it: the scaffold's window of
      // unanswered frames holds a flooding client back at its own socket.
      binary: (pipe, frame) => pipe.frame(frame, true),
      text: (pipe, text) => pipe.frame(Buffer.from(text), false),
      close(pipe) {
        metrics.sessions.dec({ route: 'detect' });
        pipe.close();
      },
    },
    route('detect'),
  );
}
