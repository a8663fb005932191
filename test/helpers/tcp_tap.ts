import { connect, createServer, type Socket } from 'node:net';

export interface TcpTap {
  /** http:// URL of the tap; connections are relayed byte for byte to the target. */
  url: string;
  /** WebSocket upgrades seen, by request path (`/ws/transcribe?...`). */
  upgrades: string[];
  /** Bytes relayed from clients to the target, all connections together (a test waits on this to act once its data has arrived). */
  readonly bytesUp: number;
  /** Cuts every open connection at the TCP level, as a crashed host would. */
  cutAll(): void;
  /** The next `n` WebSocket sessions are cut as soon as their client sends its first message. */
  cutNextSessions(n: number): void;
  close(): Promise<void>;
}

/**
 * A loopback TCP relay in front of a real service: it counts WebSocket upgrades and can cut
 * connections, so tests can break a link between two real programs at a chosen moment. Closed,
 * it is a service that is down (connections refused); started again on the same `port`, one
 * that came back.
 */
export function startTcpTap(targetUrl: string, port = 0): Promise<TcpTap> {
  const target = new URL(targetUrl);
  const pairs = new Set<[Socket, Socket]>();
  const upgrades: string[] = [];
  let toCut = 0;
  let closing = false;
  let bytesUp = 0;
  const server = createServer((client) => {
    if (closing) return void client.destroy();
    const upstream = connect(Number(target.port), target.hostname);
    const pair: [Socket, Socket] = [client, upstream];
    pairs.add(pair);
    let upgraded = false;
    let armed = false;
    const cut = () => {
      client.destroy();
      upstream.destroy();
      pairs.delete(pair);
    };
    client.on('data', (d) => {
      const head = /^GET (\/ws\/\S+) HTTP/.exec(d.toString('latin1', 0, 200));
      if (head) {
        upgrades.push(head[1]!);
        if (toCut > 0) {
          toCut--;
          armed = true;
        }
      } else if (armed && upgraded) {
        cut();
        return;
      }
      bytesUp += d.length;
      upstream.write(d);
    });
    upstream.on('data', (d) => {
      if (d.toString('latin1', 0, 12) === 'HTTP/1.1 101') upgraded = true;
      client.write(d);
    });
    client.on('close', cut);
    upstream.on('close', cut);
    client.on('error', cut);
    upstream.on('error', cut);
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => {
      const bound = (server.address() as { port: number }).port;
      resolve({
        url: `http://127.0.0.1:${bound}`,
        upgrades,
        get bytesUp() {
          return bytesUp;
        },
        cutAll: () => {
          for (const [a, b] of [...pairs]) {
            a.destroy();
            b.destroy();
          }
          pairs.clear();
        },
        cutNextSessions: (n) => {
          toCut = n;
        },
        close: () =>
          new Promise((r) => {
            closing = true;
            for (const [a, b] of pairs) {
              a.destroy();
              b.destroy();
            }
            server.close(() => r());
          }),
      });
    });
  });
}
