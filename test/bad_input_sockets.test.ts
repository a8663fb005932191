import { connect, type Socket } from 'node:net';
import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodeS16le } from '@vtuber-stt/core';
import { loadClip } from './helpers/fixtures.js';
import { spawnService, type ServiceProcess } from './helpers/processes.js';
import { startTestProxy } from './helpers/proxy.js';
import { TestClient } from './helpers/ws_client.js';
import { until, untilAsync } from './helpers/wait.js';

/**
 * The WebSocket scaffold's defences, directly at a detection service and through the proxy:
 * dead peers, clients that never read, ping floods, oversize frames and floods on /ws/detect.
 * Every case sends the exact input, asserts the clear answer (a close code and reason, or the
 * reply), and that an ordinary detection is still answered afterwards.
 */

/** Pings turned down for the file: a dead peer is found within a second or so, never in real 15 s. */
const HEARTBEAT = { intervalMs: 100, timeoutMs: 1000 };
const speech = encodeS16le(loadClip('speechbrain/spk1_snt1.wav'));
type Reply = { type: string; code?: string; error?: string; offset_ms?: number };

/** A WebSocket frame from a client: masked, as RFC 6455 requires. */
function clientFrame(opcode: number, payload: Buffer = Buffer.alloc(0)): Buffer {
  const mask = Buffer.from([0x12, 0x34, 0x56, 0x78]);
  const body = Buffer.from(payload.map((b, i) => b ^ mask[i % 4]!));
  const n = payload.length;
  const head = n < 126 ? Buffer.from([0x80 | opcode, 0x80 | n]) : Buffer.from([0x80 | opcode, 0x80 | 126, n >> 8, n & 0xff]);
  return Buffer.concat([head, mask, body]);
}

interface RawFrame {
  opcode: number;
  payload: Buffer;
}

/**
 * A WebSocket client written on a bare TCP socket, so a test can send what `ws` would never send
 * (hundreds of pings in one write). It answers the server's own pings, and records every frame.
 */
class RawClient {
  readonly frames: RawFrame[] = [];
  private pending = Buffer.alloc(0);
  readonly ended: Promise<void>;

  private constructor(readonly socket: Socket) {
    this.ended = new Promise((resolve) => socket.once('close', () => resolve()));
  }

  static open(url: string): Promise<RawClient> {
    const u = new URL(url);
    return new Promise((resolve, reject) => {
      const socket = connect(Number(u.port), u.hostname, () => {
        socket.write(
          `GET ${u.pathname}${u.search} HTTP/1.1\r\nHost: ${u.host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
            'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n',
        );
      });
      socket.once('error', reject);
      let head = Buffer.alloc(0);
      const onHead = (d: Buffer) => {
        head = Buffer.concat([head, d]);
        const end = head.indexOf('\r\n\r\n');
        if (end < 0) return;
        socket.off('data', onHead);
        if (!head.subarray(0, 12).toString().startsWith('HTTP/1.1 101')) return reject(new Error(head.toString()));
        const client = new RawClient(socket);
        socket.on('data', (more: Buffer) => client.read(more));
        client.read(head.subarray(end + 4));
        resolve(client);
      };
      socket.on('data', onHead);
    });
  }

  write(frames: Buffer): void {
    this.socket.write(frames);
  }

  /** Waits until a frame satisfying `match` has arrived. */
  async frame(match: (f: RawFrame) => boolean): Promise<RawFrame> {
    await until(() => this.frames.some(match), 20_000, () => this.frames.map((f) => f.opcode));
    return this.frames.find(match)!;
  }

  private read(data: Buffer): void {
    this.pending = Buffer.concat([this.pending, data]);
    for (;;) {
      const b = this.pending;
      if (b.length < 2) return;
      let n = b[1]! & 0x7f;
      let at = 2;
      if (n === 126) {
        if (b.length < 4) return;
        n = b.readUInt16BE(2);
        at = 4;
      } else if (n === 127) {
        if (b.length < 10) return;
        n = Number(b.readBigUInt64BE(2));
        at = 10;
      }
      if (b.length < at + n) return;
      const frame = { opcode: b[0]! & 0x0f, payload: b.subarray(at, at + n) };
      this.pending = b.subarray(at + n);
      this.frames.push(frame);
      if (frame.opcode === 0x9) this.write(clientFrame(0xa, frame.payload));
    }
  }
}

const closeOf = (ws: WebSocket) => new Promise<{ code: number; reason: string }>((resolve) => ws.once('close', (code, reason) => resolve({ code, reason: reason.toString() })));

describe('WebSocket defences, directly and through the proxy', () => {
  let service: ServiceProcess;
  let proxy: Awaited<ReturnType<typeof startTestProxy>>;
  let targets: [string, string][];

  beforeAll(async () => {
    // Its own process, as `npm start` runs it: the proxy cannot lean on the service's event loop.
    service = await spawnService('stt/tiny_ws/src/main.ts', {
      STT_DETECTOR: 'silero',
      STT_WS_PING_INTERVAL_MS: String(HEARTBEAT.intervalMs),
      STT_WS_PING_TIMEOUT_MS: String(HEARTBEAT.timeoutMs),
    });
    proxy = await startTestProxy({ cpu: service.url, detect: service.url }, { heartbeat: HEARTBEAT });
    targets = [
      ['direct', `${service.url.replace(/^http/, 'ws')}/ws/detect`],
      ['proxy', `${proxy.ws}/ws/detect`],
    ];
  });
  afterAll(async () => {
    await proxy?.close();
    await service?.stop();
  });

  /** An ordinary detection on a fresh connection is answered. */
  async function stillServing(url: string, label: string): Promise<void> {
    const c = await TestClient.connect(url);
    c.ws.send(speech.subarray(0, 1024));
    expect(await c.next<Reply>(), label).toMatchObject({ type: 'detect' });
    await c.close();
  }

  it('closes a peer that never answers a ping: 1001 with the reason, while a live one that sends nothing stays', async () => {
    for (const [where, url] of targets) {
      const live = await TestClient.connect(url);
      // Completes the handshake, reads, and never pongs: a frozen or sleeping peer, as the server sees it.
      const deaf = new WebSocket(url, { autoPong: false });
      const closed = closeOf(deaf);
      const { code, reason } = await closed;
      expect(code, where).toBe(1001);
      expect(reason, where).toMatch(/^no answer to a ping in \d+ ms \(STT_WS_PING_TIMEOUT_MS\)/);
      // The live client, idle all along, answered every ping and is still served on its connection.
      expect(live.ws.readyState, where).toBe(WebSocket.OPEN);
      live.ws.send(speech.subarray(0, 1024));
      expect(await live.next<Reply>(), where).toMatchObject({ type: 'detect' });
      await live.close();
    }
  });

  /** How many clients the service (direct) or the proxy has closed as not reading, from its /metrics. */
  async function notReadingCount(where: string): Promise<number> {
    const text = await fetch(`${where === 'direct' ? service.url : proxy.url}/metrics`).then((r) => r.text());
    return text
      .split('\n')
      .filter((line) => line.includes('"not_reading"'))
      .reduce((sum, line) => sum + Number(line.split(' ').at(-1)), 0);
  }

  it('closes a client that keeps sending but never reads: 1008 "replies are not being read"', async () => {
    const before: Record<string, number> = {};
    for (const [where] of targets) before[where] = await notReadingCount(where);
    for (const [where, url] of targets) {
      const c = new WebSocket(url, { autoPong: false });
      const closed = closeOf(c);
      // From the server's first ping on, this client reads nothing (not the ping, not its replies)...
      await new Promise((resolve) => c.once('ping', resolve));
      const raw = (c as unknown as { _socket: Socket })._socket;
      raw.pause();
      // ...and goes on sending: frames that arrive after the ping prove it alive, and not reading.
      const frame = speech.subarray(0, 1024);
      for (let i = 0; i < 200; i++) c.send(frame);
      // It reads again only once the server has given up on it, to see how it was closed.
      await untilAsync(async () => (await notReadingCount(where)) > before[where]!, 20_000);
      raw.resume();
      const { code, reason } = await closed;
      expect(code, where).toBe(1008);
      expect(reason, where).toMatch(/^replies are not being read: no answer to a ping/);
      await stillServing(url, `${where}: after a client that never reads`);
    }
  });

  it('answers 500 pings in one write (one pong, to the latest) and keeps the connection', async () => {
    for (const [where, url] of targets) {
      const c = await RawClient.open(url);
      const pings = Array.from({ length: 500 }, (_, i) => clientFrame(0x9, Buffer.from(`p${i}`)));
      c.write(Buffer.concat(pings));
      const pong = await c.frame((f) => f.opcode === 0xa);
      expect(pong.payload.toString(), where).toBe('p499');
      // The same connection still detects...
      c.write(clientFrame(0x2, speech.subarray(0, 1024)));
      const reply = await c.frame((f) => f.opcode === 0x1);
      expect(JSON.parse(reply.payload.toString()), where).toMatchObject({ type: 'detect' });
      // ...and was never reset: it ends with a closing handshake it started itself.
      c.write(clientFrame(0x8, Buffer.from([0x03, 0xe8])));
      const close = await c.frame((f) => f.opcode === 0x8);
      expect(close.payload.readUInt16BE(0), where).toBe(1000);
      await c.ended;
      expect(c.frames.filter((f) => f.opcode === 0xa).every((f) => /^p\d+$/.test(f.payload.toString())), where).toBe(true);
      await stillServing(url, `${where}: after a ping flood`);
    }
  });

  it('refuses a 5 MiB frame on /ws/detect through the proxy with frame_too_large, and the session goes on', async () => {
    const c = await TestClient.connect(`${proxy.ws}/ws/detect`);
    c.ws.send(Buffer.alloc(5 * 1024 * 1024));
    const refused = await c.next<Reply>();
    expect(refused).toMatchObject({ type: 'error', code: 'frame_too_large' });
    expect(refused.error).toMatch(/1048576-byte limit \(STT_PROXY_MAX_FRAME_BYTES\)/);
    c.ws.send(speech.subarray(0, 1024));
    expect(await c.next<Reply>()).toMatchObject({ type: 'detect', offset_ms: 32 });
    await c.close();
    // The detection service was not blamed for it.
    const status = (await fetch(`${proxy.url}/api/status`).then((r) => r.json())) as { backends: { detect: { state: string } } };
    expect(status.backends.detect.state).toBe('ready');
  });

  it("holds a detect flood back at its own client through the proxy: another client's frames wait behind a window of it, not all of it", async () => {
    const url = `${proxy.ws}/ws/detect`;
    const flood = await TestClient.connect(url);
    const frames = 20_000;
    let answered = 0;
    flood.ws.on('message', () => answered++);
    const other = await TestClient.connect(url);
    const tiny = Buffer.alloc(2);
    for (let i = 0; i < frames; i++) flood.ws.send(tiny);
    // Round trips of the other client while the flood is worked through: each waits behind at
    // most the flood's window of unanswered frames (64) plus what the service works per turn.
    const behind: number[] = [];
    for (let i = 0; i < 20; i++) {
      const before = answered;
      other.ws.send(speech.subarray(0, 1024));
      expect(await other.next<Reply>()).toMatchObject({ type: 'detect' });
      behind.push(answered - before);
    }
    expect(answered, `flood replies seen so far; behind each round trip: ${behind.join(' ')}`).toBeLessThan(frames);
    expect(Math.max(...behind), behind.join(' ')).toBeLessThanOrEqual(256);
    await until(() => answered === frames, 60_000, () => answered);
    await Promise.all([flood.close(), other.close()]);
  });
});
