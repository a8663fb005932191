import WebSocket, { type RawData } from 'ws';
import { closeReason, isPermanentClose } from '@vtuber-stt/core';
import type { Backend } from './backends.js';

/**
 * /ws/detect through the proxy: a straight pipe to the detection service. Frames that arrive
 * before the upstream is open wait (in order), so none is lost; if the upstream goes away the
 * client is closed with 1013 so it reconnects, unless the service refused the request itself
 * (e.g. 1008 for a bad query string): that code and reason reach the client as they are.
 */
export function pipeDetect(client: WebSocket, backend: Backend, query: string): void {
  const upstream = new WebSocket(backend.wsUrl('/ws/detect', query));
  const early: { data: RawData; isBinary: boolean }[] = [];
  client.on('message', (data: RawData, isBinary: boolean) => {
    if (upstream.readyState === WebSocket.OPEN) upstream.send(data, { binary: isBinary });
    else early.push({ data, isBinary });
  });
  upstream.on('open', () => {
    for (const m of early.splice(0)) upstream.send(m.data, { binary: m.isBinary });
  });
  upstream.on('message', (data: RawData, isBinary: boolean) => {
    if (client.readyState === WebSocket.OPEN) client.send(data, { binary: isBinary });
  });
  const closeClient = (code: number, reason: string) => {
    if (client.readyState === WebSocket.OPEN) client.close(code, closeReason(reason));
  };
  let clientGone = false;
  upstream.on('error', (error) => {
    // Abandoning a connection still being opened (the client left) is not the service's failure.
    if (!clientGone) backend.markDown(error.message);
    closeClient(1013, `detection service unreachable: ${error.message}`);
  });
  upstream.on('close', (code, raw) => {
    const reason = raw.toString();
    if (isPermanentClose(code)) closeClient(code, reason || `detection service refused the session (${code})`);
    else closeClient(1013, `detection service closed (${code}${reason ? ` ${reason}` : ''}); reconnect`);
  });
  client.on('close', () => {
    clientGone = true;
    if (upstream.readyState === WebSocket.CONNECTING) upstream.terminate();
    else if (upstream.readyState === WebSocket.OPEN) upstream.close(1000, 'client left');
  });
}
