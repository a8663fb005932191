import type { RawData, WebSocket } from 'ws';
import type { ErrorMessage } from '../protocol/messages.js';
import type { Limits } from './limits.js';
import type { Metrics } from './metrics.js';

export function toBuffer(data: RawData): Buffer {
  if (Buffer.isBuffer(data)) return data;
  if (Array.isArray(data)) return Buffer.concat(data);
  return Buffer.from(data);
}

export function sendJson(socket: WebSocket, message: object): void {
  if (socket.readyState === socket.OPEN) socket.send(JSON.stringify(message));
}

/**
 * Counts a route's open connections and turns away the one past the limit, or any while the
 * model is not ready, with close code 1013 ("try again later") and a reason naming the cause.
 */
export class ConnectionGate {
  private open = 0;

  constructor(
    private readonly limits: Limits,
    private readonly metrics: Metrics,
  ) {}

  admit(socket: WebSocket, notReadyReason?: string): boolean {
    const refusal = notReadyReason ?? (this.open >= this.limits.maxConnections ? `server busy: ${this.limits.maxConnections} connections (STT_MAX_CONNECTIONS)` : undefined);
    if (refusal) {
      this.metrics.errors.inc({ code: 'refused' });
      socket.close(1013, refusal.slice(0, 120)); // close reasons are limited to 123 bytes
      return false;
    }
    this.open++;
    this.metrics.connections.set(this.open);
    socket.once('close', () => {
      this.open--;
      this.metrics.connections.set(this.open);
    });
    return true;
  }
}

/** Sends an error reply and counts it by code. */
export function errorReplier(socket: WebSocket, metrics: Metrics): (message: ErrorMessage) => void {
  return (message) => {
    metrics.errors.inc({ code: message.code });
    sendJson(socket, message);
  };
}

/** A query string that cannot describe the audio ends the connection at once (1008), with the reason. */
export function refuseQuery(socket: WebSocket, error: unknown): void {
  sendJson(socket, { type: 'error', code: 'bad_message', error: (error as Error).message });
  socket.close(1008, 'bad query string');
}
