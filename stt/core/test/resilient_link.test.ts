import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { WebSocketServer, type WebSocket } from 'ws';
import { Backoff, ResilientTranscriber, retryPolicy, type ConnectionEvent } from '../src/client/index.js';

/** One connection the scripted service accepted: what it received, in order, and how it ended. */
interface Link {
  socket: WebSocket;
  at: number;
  received: (Buffer | string)[];
  closed: Promise<{ code: number; reason: string }>;
}

/**
 * A scripted /ws/transcribe service on loopback. `serve`: acks config messages and answers each
 * `<flush>` with a final. `busy`: refuses every connection as a service at its limit does (a
 * busy error, then 1013). `drop-first`: its first connection is dropped (1012, a restart) at the
 * first `<flush>`, unanswered; later ones serve.
 */
async function scriptedService(mode: 'serve' | 'busy' | 'drop-first') {
  const server = new WebSocketServer({ host: '127.0.0.1', port: 0 });
  await once(server, 'listening');
  const links: Link[] = [];
  const waiters: (() => void)[] = [];
  server.on('connection', (socket) => {
    const link: Link = {
      socket,
      at: performance.now(),
      received: [],
      closed: new Promise((resolve) => socket.once('close', (code, reason) => resolve({ code, reason: reason.toString() }))),
    };
    links.push(link);
    for (const w of waiters.splice(0)) w();
    if (mode === 'busy') {
      socket.send(JSON.stringify({ type: 'error', code: 'busy', error: 'server busy: 1 connections' }));
      socket.close(1013, 'server busy: 1 connections');
      return;
    }
    let seq = 1;
    socket.on('message', (data, binary) => {
      const text = binary ? undefined : data.toString();
      link.received.push(text ?? (data as Buffer));
      if (text === '<flush>' && mode === 'drop-first' && links.length === 1) socket.close(1012, 'service restarting');
      else if (text === '<flush>') socket.send(JSON.stringify({ type: 'transcript', seq: seq++, text: 'hello', final: true }));
      else if (text !== undefined) socket.send(JSON.stringify({ ...(JSON.parse(text) as object), type: 'config' }));
    });
  });
  return {
    url: `ws://127.0.0.1:${(server.address() as AddressInfo).port}/ws/transcribe`,
    links,
    /** Resolves once the service has accepted `n` connections in all. */
    async connections(n: number): Promise<Link[]> {
      while (links.length < n) await new Promise<void>((r) => waiters.push(r));
      return links;
    },
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}

const frame = Buffer.alloc(3200, 1); // 100 ms of 16 kHz s16le

let cleanup: (() => unknown)[] = [];
/** Real I/O (setImmediate is not faked) until `done`. */
async function until(done: () => boolean): Promise<void> {
  while (!done()) await new Promise((r) => setImmediate(r));
}
const fakeClock = () => {
  vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'performance'] });
  cleanup.push(() => vi.useRealTimers());
};
afterEach(async () => {
  // Last in, first out: a transcriber closes before its service (which waits for its connections) and the real clock is back.
  for (const c of cleanup.splice(0).reverse()) await c();
});

function transcriber(url: string, extra: Partial<ConstructorParameters<typeof ResilientTranscriber>[0]> = {}) {
  const replies: Record<string, unknown>[] = [];
  const messages: Record<string, unknown>[] = [];
  const events: ConnectionEvent[] = [];
  const t = new ResilientTranscriber({
    next: () => ({ name: 'scripted', url }),
    maxReplayBytes: 1024 * 1024,
    onReply: (m) => replies.push(m),
    onMessage: (m) => messages.push(m),
    onConnectionChange: (e) => events.push(e),
    ...extra,
  });
  cleanup.push(() => t.close());
  return { t, replies, messages, events };
}

describe('the resilient link holds a service connection only while it is used', () => {
  it('opens none before the first input, opens at the first audio, lets it go when idle and reopens with the config replayed', async () => {
    const service = await scriptedService('serve');
    cleanup.push(service.close);
    const { t, replies, messages, events } = transcriber(service.url, { idleMs: 100 });
    await new Promise((r) => setImmediate(r));
    expect(service.links).toHaveLength(0);
    expect(t.link).toBe('idle');

    // A control message needs the service: it opens the link and is answered.
    expect(t.control(JSON.stringify({ type: 'config', language: 'en' }))).toBe(true);
    const [first] = await service.connections(1);
    t.sendAudio(frame);
    t.flush();
    await t.idle();
    expect(replies).toMatchObject([{ type: 'transcript', seq: 1, text: 'hello' }]);
    expect(messages).toMatchObject([{ type: 'config', language: 'en' }]);
    expect(first!.received).toEqual([JSON.stringify({ type: 'config', language: 'en' }), frame, '<flush>']);

    // Nothing owed, no input: the link is let go with a reason.
    expect(await first!.closed).toEqual({ code: 1000, reason: expect.stringMatching(/^idle for \d+ ms; the next input reconnects$/) });
    expect(events.map((e) => e.type)).toEqual(['connected', 'released']);
    expect(t.link).toBe('idle');

    // The next audio opens a new one, the acknowledged config first; the caller hears nothing twice.
    t.sendAudio(frame);
    t.flush();
    const [, second] = await service.connections(2);
    await t.idle();
    expect(replies).toMatchObject([{ seq: 1 }, { type: 'transcript', seq: 2, text: 'hello' }]);
    expect(JSON.parse(second!.received[0] as string)).toEqual({ type: 'config', language: 'en' });
    expect(second!.received.slice(1)).toEqual([frame, '<flush>']);
    expect(messages).toHaveLength(1);
    expect(service.links).toHaveLength(2);
    expect(t.link).toBe('open');
    t.close();
    expect(t.link).toBe('closed');
  });

  it('keeps the link while input keeps coming, however long that is, and lets it go once it stops', async () => {
    const service = await scriptedService('serve');
    cleanup.push(service.close);
    // The clock the idle period is measured on is driven by the test; the sockets are real.
    fakeClock();
    const { t, events } = transcriber(service.url, { idleMs: 1000 });
    t.sendAudio(frame);
    const [link] = await service.connections(1);
    // A client streaming silence: a frame every 500 ms for 10 s.
    for (let i = 0; i < 20; i++) {
      vi.advanceTimersByTime(500);
      const arrived = once(link!.socket, 'message');
      t.sendAudio(frame);
      await arrived;
    }
    expect(events.map((e) => e.type)).toEqual(['connected']);
    // Then nothing comes (a laptop asleep): the link is let go after the idle period.
    vi.advanceTimersByTime(1000);
    expect(await link!.closed).toMatchObject({ code: 1000 });
    expect(events.map((e) => e.type)).toEqual(['connected', 'released']);
    expect(service.links).toHaveLength(1);
  });

  it('backs off from a service that refuses every connection (1013 busy), then answers what is owed with an error and stops trying', async () => {
    const service = await scriptedService('busy');
    cleanup.push(service.close);
    fakeClock();
    const { t, replies, events } = transcriber(service.url, { retryDelayMs: 40, maxDelayMs: 160, jitter: 0, attempts: 3 });
    expect(service.links).toHaveLength(0);
    t.sendAudio(frame);
    t.flush();
    // Each refusal is waited out along the policy: nothing is tried one ms before its step, the next try comes at it.
    const lost = () => events.filter((e) => e.type === 'lost');
    for (const [i, step] of [40, 80, 160, 160, 160].entries()) {
      await until(() => lost().length === i + 1 && t.link === 'backoff');
      expect(service.links).toHaveLength(i + 1);
      await vi.advanceTimersByTimeAsync(step - 1);
      expect(t.link).toBe('backoff');
      await vi.advanceTimersByTimeAsync(1);
      if (i < 4) expect(t.link).toBe('connecting');
    }
    // Five refusals in a row: out of attempts, the flush is answered, naming why.
    await t.idle();
    expect(replies).toMatchObject([{ type: 'error', code: 'engine_unavailable', seq: 1, error: expect.stringMatching(/at capacity/) }]);
    expect(lost().every((e) => e.code === 1013)).toBe(true);
    expect(events.at(-1)).toMatchObject({ type: 'exhausted', code: 1013 });
    // Owing nothing and holding nothing, it asks for no connection until the next input: no loop.
    expect(t.link).toBe('idle');
    await vi.advanceTimersByTimeAsync(60_000);
    expect(service.links).toHaveLength(5);
  });

  it('waits along the policy while no endpoint has room (next throws), without connecting, and connects once one has', async () => {
    const service = await scriptedService('serve');
    cleanup.push(service.close);
    fakeClock();
    let room = false;
    const asked: number[] = [];
    const { t, replies, events } = transcriber(service.url, {
      retryDelayMs: 100,
      maxDelayMs: 400,
      jitter: 0,
      attempts: 20,
      next: () => {
        asked.push(performance.now());
        if (!room) throw new Error('every member is at capacity');
        return { name: 'scripted', url: service.url };
      },
    });
    t.sendAudio(frame);
    t.flush();
    expect(t.link).toBe('backoff');
    await vi.advanceTimersByTimeAsync(2000);
    // 0, 100, 300, 700, 1100, 1500, 1900: seven asks in two seconds, none of them a connection.
    expect(asked.map((at) => Math.round(at - asked[0]!))).toEqual([0, 100, 300, 700, 1100, 1500, 1900]);
    expect(service.links).toHaveLength(0);
    expect(events.every((e) => e.type === 'failed' && e.code === 1013 && e.detail === 'every member is at capacity')).toBe(true);
    room = true;
    await vi.advanceTimersByTimeAsync(400);
    await t.idle();
    expect(replies).toMatchObject([{ type: 'transcript', seq: 1, text: 'hello' }]);
    expect(service.links).toHaveLength(1);
    expect(service.links[0]!.received).toEqual([frame, '<flush>']);
  });

  it('replays what is unanswered on a new connection when one drops, and answers the caller once', async () => {
    const service = await scriptedService('drop-first');
    cleanup.push(service.close);
    const { t, replies, messages, events } = transcriber(service.url);
    t.control(JSON.stringify({ type: 'config', language: 'en' }));
    await service.connections(1);
    await until(() => messages.length === 1);
    t.sendAudio(frame);
    t.flush();
    const [first, second] = await service.connections(2);
    await t.idle();
    expect(await first!.closed).toEqual({ code: 1012, reason: 'service restarting' });
    // The acknowledged config, then the audio and flush the dropped connection never answered.
    expect(JSON.parse(second!.received[0] as string)).toEqual({ type: 'config', language: 'en' });
    expect(second!.received.slice(1)).toEqual([frame, '<flush>']);
    expect(replies).toMatchObject([{ type: 'transcript', seq: 1, text: 'hello' }]);
    expect(messages).toHaveLength(1); // the replayed config's ack is not the caller's
    expect(events.map((e) => e.type)).toEqual(['connected', 'lost', 'connected']);
    expect(events[1]).toMatchObject({ code: 1012, pending: 1 });
  });

  it('grows each wait along one policy: doubling, bounded, jitter only shortening it', () => {
    expect(retryPolicy({ retryDelayMs: undefined, maxDelayMs: 800 })).toMatchObject({ retryDelayMs: 250, maxDelayMs: 800 });
    const longest = new Backoff(retryPolicy({ retryDelayMs: 100, maxDelayMs: 500, jitter: 0.5 }), () => 0);
    expect([1, 2, 3, 4, 5].map(() => longest.next())).toEqual([100, 200, 400, 500, 500]);
    const shortest = new Backoff(retryPolicy({ retryDelayMs: 100, maxDelayMs: 500, jitter: 0.5 }), () => 1);
    expect([1, 2, 3, 4].map(() => shortest.next())).toEqual([50, 100, 200, 250]);
    shortest.reset();
    expect(shortest.next()).toBe(50);
    expect(new Backoff(retryPolicy({ jitter: 0 })).exhausted()).toBe(2000);
  });
});
