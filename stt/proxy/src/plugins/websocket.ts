import type { FastifyInstance } from 'fastify';
import type { WebSocket } from 'ws';
import { pipeDetect } from '../detect_relay.js';
import { relayTranscribe } from '../transcribe_relay.js';
import type { ProxyContext } from './context.js';

const queryOf = (url: string) => (url.includes('?') ? url.slice(url.indexOf('?')) : '');

/** `/ws/transcribe` (routed to the CPU or GPU backend, with failover) and `/ws/detect` (passed through). */
export async function websocketPlugin(app: FastifyInstance, { config, backends, logger, metrics, choose }: ProxyContext): Promise<void> {
  app.get('/ws/transcribe', { websocket: true }, (socket: WebSocket, request) => {
    metrics.sessions.inc({ route: 'transcribe' });
    socket.on('close', () => metrics.sessions.dec({ route: 'transcribe' }));
    relayTranscribe(socket, {
      choose,
      query: queryOf(request.url),
      maxReplayBytes: config.maxReplayBytes,
      logger,
      onReply: (backend, latency) => {
        backend.observe(latency);
        metrics.requests.inc({ route: 'ws', backend: backend.name, outcome: 'ok' });
      },
    });
  });

  app.get('/ws/detect', { websocket: true }, (socket: WebSocket, request) => {
    if (!backends.detect) {
      socket.close(1013, 'no detection service is configured (STT_DETECT_URL)');
      return;
    }
    metrics.sessions.inc({ route: 'detect' });
    socket.on('close', () => metrics.sessions.dec({ route: 'detect' }));
    pipeDetect(socket, backends.detect, queryOf(request.url));
  });
}
