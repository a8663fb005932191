import WebSocket, { type RawData } from 'ws';
import type { Backend } from './backends.js';

/**
 * /ws/detect through the proxy: a straight pipe to the detection service. Frames that arrive
 * before the upstream is open wait (in order), so none is lost; if the upstream goes away the
 * client is closed with 1013 so it reconnects.
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
  const closeClient = (reason: string) => {
    if (client.readyState === WebSocket.OPEN) client.close(1013, reason.slice(0, 120));
  };
  upstream.on('error', (error) => {
    backend.markDown(error.message);
    closeClient(`detection service unreachable: ${error.message}`);
  });
  upstream.on('close', (code, reason) => closeClient(code === 1000 ? 'detection service closed' : `detection service closed (${code} ${reason.toString()})`));
  client.on('close', () => upstream.close());
}
