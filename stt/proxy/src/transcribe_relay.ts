import WebSocket, { type RawData } from 'ws';
import type { Logger } from 'pino';
import { FLUSH_COMMAND, ResilientTranscriber, type Endpoint } from '@vtuber-stt/core';
import type { Backend } from './backends.js';

export interface RelayOptions {
  /** Picks the backend for the first connection and for each failover (`avoid` just failed). */
  choose: (avoid?: Backend) => Backend;
  /** The client's query string (audio format), passed on to every backend connection. */
  query: string;
  /** Bytes of not-yet-answered audio kept for replay. */
  maxReplayBytes: number;
  /** Connection attempts per failover before waiting flushes are answered with an error. */
  attempts?: number;
  logger?: Logger;
  onReply?: (backend: Backend, latencyMs: number) => void;
}

const FORMAT_BYTES: Record<string, number> = { s16le: 2, f32le: 4 };

/**
 * One client's /ws/transcribe session through the proxy: a ResilientTranscriber towards the
 * backends (failover with replay, replies renumbered), with the proxy's own checks in front and
 * the serving backend's name on every transcript.
 */
export function relayTranscribe(client: WebSocket, options: RelayOptions): void {
  const params = new URLSearchParams(options.query.replace(/^\?/, ''));
  const frameBytes = (FORMAT_BYTES[params.get('encoding') ?? 's16le'] ?? 2) * Number(params.get('channels') ?? 1);
  const toClient = (message: object) => {
    if (client.readyState === WebSocket.OPEN) client.send(JSON.stringify(message));
  };
  const byUrl = new Map<string, Backend>();
  const endpoint = (backend: Backend): Endpoint => {
    const url = backend.wsUrl('/ws/transcribe', options.query);
    byUrl.set(url, backend);
    return { name: backend.name, url };
  };
  const upstream = new ResilientTranscriber({
    next: (failed) => endpoint(options.choose(failed ? byUrl.get(failed.url) : undefined)),
    maxReplayBytes: options.maxReplayBytes,
    attempts: options.attempts ?? 3,
    onReply: (message, ep, latencyMs) => {
      message.backend = ep.name;
      const backend = byUrl.get(ep.url);
      if (message.type === 'transcript' && backend) options.onReply?.(backend, latencyMs);
      toClient(message);
    },
    onMessage: toClient,
    onConnectionChange: ({ type, endpoint: ep, detail, pending }) => {
      if (type === 'connected') return;
      byUrl.get(ep.url)?.markDown(detail ?? type);
      options.logger?.warn({ backend: ep.name, pending }, `transcription backend ${type}: ${detail}`);
    },
  });
  client.on('message', (raw: RawData, isBinary: boolean) => {
    const data = Buffer.isBuffer(raw) ? raw : Buffer.from(raw as ArrayBuffer);
    if (isBinary) {
      // Checked here too, so a bad frame is not replayed (and reported twice) after a failover.
      if (data.length % frameBytes !== 0) {
        toClient({ type: 'error', code: 'bad_audio', error: `frame of ${data.length} bytes is not a whole number of ${frameBytes}-byte samples` });
        return;
      }
      const refused = upstream.sendAudio(data);
      if (refused) toClient({ type: 'error', code: 'buffer_full', error: `proxy ${refused} (STT_PROXY_MAX_REPLAY_BYTES)` });
      return;
    }
    const text = data.toString('utf8');
    if (text === FLUSH_COMMAND) upstream.flush();
    else if (!upstream.control(text)) toClient({ type: 'error', code: 'engine_unavailable', error: 'transcription backend is reconnecting; send the message again' });
  });
  client.on('close', () => upstream.close());
}
