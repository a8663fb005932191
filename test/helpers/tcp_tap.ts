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
  /**
   * Resolves right after the target's bytes matching `match` were passed on, before anything
   * else it sends is: a test acting then (taking the tap down) acts at that point of the protocol.
   */
  afterUpstream(match: RegExp): Promise<void>;
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
  let watch: { match: RegExp; seen: () => void } | undefined;
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
      if (watch?.match.test(d.toString('latin1'))) {
        const { seen } = watch;
        watch = undefined;
        seen();
      }
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
        afterUpstream: (match) => new Promise<void>((seen) => (watch = { match, seen })),
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

/**
 * A service reached through a loopback TCP relay that can be taken down and brought
 * back on the same port. Down, every connection through it is cut and new ones are refused: what
 * a proxy or a client sees of a killed service process, without a process to start again.
 */
export async function switchableWay(targetUrl: string) {
  let tap = await startTcpTap(targetUrl);
  const port = Number(new URL(tap.url).port);
  let up = true;
  return {
    url: tap.url,
    port,
    async down() {
      if (!up) return;
      up = false;
      await tap.close();
    },
    async up() {
      if (up) return;
      tap = await startTcpTap(targetUrl, port);
      up = true;
    },
    /** Goes down the moment the service has sent something matching `match` (passed on first): a death at that point of the protocol. */
    async downAfter(match: RegExp) {
      await tap.afterUpstream(match);
      await this.down();
    },
    close: () => (up ? tap.close() : Promise.resolve()),
  };
}
