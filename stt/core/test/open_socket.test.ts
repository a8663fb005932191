import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocketServer } from 'ws';
import { ConnectTimeout, HandshakeRefused, openSocket, type SocketHandlers } from '../src/client/open_socket.js';

const quiet = () => undefined;
const handlers = (over: Partial<SocketHandlers> = {}): SocketHandlers => ({ open: quiet, message: quiet, close: quiet, ...over });

/**
 * One loopback HTTP server for every case: `/refuse` answers the upgrade 401 with a reason,
 * `/hang` never answers it, `/echo` upgrades, sends the handshake's authorization header back, then
 * a frame no peer may send (a reserved opcode) when told to.
 */
let server: Server;
let base: string;
beforeAll(async () => {
  const wss = new WebSocketServer({ noServer: true });
  server = createServer();
  server.on('upgrade', (request, socket, head) => {
    if (request.url === '/refuse') {
      socket.end('HTTP/1.1 401 Unauthorized\r\ncontent-type: application/json\r\nconnection: close\r\n\r\n{"error":"invalid API key"}');
    } else if (request.url === '/hang') {
      socket.on('error', quiet);
    } else {
      wss.handleUpgrade(request, socket, head, (ws) => {
        ws.send(String(request.headers.authorization));
        ws.on('message', () => (ws as unknown as { _socket: import('node:net').Socket })._socket.write(Buffer.from([0x83, 0x00])));
      });
    }
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  base = `ws://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(() => {
  server.closeAllConnections();
  server.close();
});

describe('openSocket: the one WebSocket opener', () => {
  it('sends its headers, delivers what the server sends with the handshake, and reports a failure once open before the close', async () => {
    const seen: string[] = [];
    const closed = new Promise<number>((resolve) => {
      void openSocket(`${base}/echo`, handlers({
        open: (socket) => seen.push(`open ${socket.readyState}`),
        message: (socket, text) => {
          seen.push(text);
          socket.send('bad frame, please');
        },
        error: (_socket, error) => seen.push(`error ${error.message}`),
        close: (_socket, code) => resolve(code),
      }), { headers: { authorization: 'Bearer k' } });
    });
    expect(await closed).toBe(1006);
    expect(seen).toEqual(['open 1', 'Bearer k', expect.stringMatching(/^error .*opcode 3/i)]);
  });

  it('rejects a refused handshake with the status and the reason its body gave', async () => {
    const refused = await openSocket(`${base}/refuse`, handlers()).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(HandshakeRefused);
    expect(refused).toMatchObject({ status: 401, reason: 'invalid API key', message: 'invalid API key', permanent: true });
  });

  it('gives up on a handshake that takes longer than its limit', async () => {
    const late = await openSocket(`${base}/hang`, handlers(), { timeoutMs: 50 }).catch((e: unknown) => e);
    expect(late).toBeInstanceOf(ConnectTimeout);
    expect(late).toMatchObject({ timeoutMs: 50 });
  });

  it('abandons a connection still being opened when its signal fires, and never opens it', async () => {
    const opening = new AbortController();
    let opened = false;
    const attempt = openSocket(`${base}/hang`, handlers({ open: () => (opened = true) }), { signal: opening.signal });
    opening.abort();
    await expect(attempt).rejects.toThrow(/abandoned/);
    expect(opened).toBe(false);
  });
});
