import WebSocket, { type RawData } from 'ws';
import { closeCodeOf, isPermanentClose, type SocketPeer } from '@vtuber-stt/core';
import type { Backend } from './backends.js';

const RECONNECT = closeCodeOf('unreachable')!;

/** One client's /ws/detect, piped to the detection service. */
export interface DetectPipe {
  /** Resolves once the frame is handed to the service's socket: a service that stops reading holds the client back too. */
  frame(data: Buffer, binary: boolean): Promise<void>;
  close(): void;
}

/**
 * /ws/detect through the proxy: a straight pipe to the detection service. Frames that arrive
 * before the upstream is open wait (in order), so none is lost; if the upstream goes away the
 * client is closed with 1013 so it reconnects, unless the service refused the request itself
 * (e.g. 1008 for a bad query string): that code and reason reach the client as they are.
 */
export function pipeDetect(client: SocketPeer, backend: Backend, query: string): DetectPipe {
  const upstream = new WebSocket(backend.wsUrl('/ws/detect', query), { headers: backend.headers });
  const early: { data: Buffer; binary: boolean; sent: () => void }[] = [];
  upstream.on('open', () => {
    for (const m of early.splice(0)) upstream.send(m.data, { binary: m.binary }, m.sent);
  });
  upstream.on('message', (data: RawData, isBinary: boolean) => client.sendFrame(isBinary ? (data as Buffer) : data.toString(), isBinary));
  let clientGone = false;
  upstream.on('error', (error) => {
    // Abandoning a connection still being opened (the client left) is not the service's failure.
    if (!clientGone) backend.markDown(error.message);
    client.close(RECONNECT, `detection service unreachable: ${error.message}`);
  });
  upstream.on('close', (code, raw) => {
    const reason = raw.toString();
    if (isPermanentClose(code)) client.close(code, reason || `detection service refused the session (${code})`);
    else client.close(RECONNECT, `detection service closed (${code}${reason ? ` ${reason}` : ''}); reconnect`);
  });
  return {
    frame(data, binary) {
      return new Promise<void>((resolve) => {
        // Settled either way: a failed send ends the session through 'close'.
        const sent = () => resolve();
        if (upstream.readyState === WebSocket.OPEN) upstream.send(data, { binary }, sent);
        else if (upstream.readyState === WebSocket.CONNECTING) early.push({ data, binary, sent });
        else resolve();
      });
    },
    close() {
      clientGone = true;
      if (upstream.readyState === WebSocket.CONNECTING) upstream.terminate();
      else if (upstream.readyState === WebSocket.OPEN) upstream.close(1000, 'client left');
    },
  };
}
