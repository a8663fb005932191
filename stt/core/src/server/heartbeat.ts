import type { WebSocket } from 'ws';
import { integer, setting } from '../settings.js';

/** How often a socket route pings each peer, and how long it waits for the pong. */
export interface Heartbeat {
  intervalMs: number;
  timeoutMs: number;
}

export const DEFAULT_HEARTBEAT: Heartbeat = { intervalMs: 15_000, timeoutMs: 10_000 };

/** The two settings, one row each in the services' table and the proxy's (the same names on both). */
export const heartbeatSettings = () => ({
  pingIntervalMs: setting(
    'STT_WS_PING_INTERVAL_MS',
    '--ws-ping-interval-ms <ms>',
    'how often every WebSocket peer is pinged',
    integer(10, 3_600_000).default(DEFAULT_HEARTBEAT.intervalMs),
  ),
  pingTimeoutMs: setting(
    'STT_WS_PING_TIMEOUT_MS',
    '--ws-ping-timeout-ms <ms>',
    'a peer that has not answered a ping within this is closed as dead (or as not reading, if it still sends)',
    integer(10, 3_600_000).default(DEFAULT_HEARTBEAT.timeoutMs),
  ),
});

/** Why a peer was given up on: it went silent, or it kept sending but read nothing of ours. */
export type Unanswered = 'peer_unresponsive' | 'not_reading';

/**
 * Pings `socket` every `intervalMs` and calls `dead` when a pong has not come within `timeoutMs`.
 * A pong proves the peer reads what it is sent; nothing else does (a frozen process's socket
 * stays open, and a client that never reads keeps its kernel buffers, not ours, full).
 *
 * The wait is extended while the fault may be ours or the pong may simply be on its way: while
 * this server holds the socket's reading back (backpressure: the pong sits unread behind the
 * frames being worked), and while the peer's frames keep arriving (its pong is queued behind
 * them). A peer that sent something after the ping but never answered it is not reading; one that
 * sent nothing is unresponsive (asleep, frozen, or its network gone).
 */
export function keepAlive(socket: WebSocket, { intervalMs, timeoutMs }: Heartbeat, dead: (why: Unanswered, waitedMs: number) => void): void {
  let timer: NodeJS.Timeout | undefined;
  let awaiting = false;
  let pingedAt = 0;
  let heardSincePing = false;
  let lastHeard = -Infinity;
  const schedule = (ms: number, then: () => void) => {
    timer = setTimeout(then, ms);
    timer.unref();
  };
  const ping = () => {
    if (socket.readyState !== socket.OPEN) return;
    pingedAt = performance.now();
    awaiting = true;
    heardSincePing = false;
    socket.ping();
    schedule(timeoutMs, check);
  };
  const check = () => {
    if (socket.readyState !== socket.OPEN) return;
    const now = performance.now();
    if (socket.isPaused) return schedule(timeoutMs, check);
    if (now - lastHeard < timeoutMs) return schedule(lastHeard + timeoutMs - now, check);
    dead(heardSincePing ? 'not_reading' : 'peer_unresponsive', Math.round(now - pingedAt));
  };
  const heard = () => {
    lastHeard = performance.now();
    heardSincePing = true;
  };
  socket.on('message', heard);
  socket.on('ping', heard);
  socket.on('pong', () => {
    // An unsolicited pong (a one-way heartbeat, RFC 6455 5.5.3) neither answers nor postpones a ping.
    if (!awaiting) return;
    awaiting = false;
    clearTimeout(timer);
    schedule(intervalMs, ping);
  });
  socket.once('close', () => clearTimeout(timer));
  schedule(intervalMs, ping);
}

/**
 * RFC 6455 (5.5.3) lets an endpoint answer a burst of pings with one pong, to the latest. `ws`
 * instead answers each and resets the connection, with no close frame, past 60 pongs not yet
 * written (its maxPendingAutoPongs): a client's 61 pings in one read cost it its session. Servers
 * turn `ws`'s own answering off (`autoPong: false`) and answer here: at most one pong per turn of
 * the event loop, so a ping flood costs a parse per ping and nothing else.
 */
export function answerPings(socket: WebSocket, reading: () => boolean): void {
  let latest: Buffer | undefined;
  socket.on('ping', (data: Buffer) => {
    if (latest !== undefined) {
      latest = data;
      return;
    }
    latest = data;
    setImmediate(() => {
      const payload = latest!;
      latest = undefined;
      // A peer that pings but never reads its pongs is held to the same bound as any reader.
      if (socket.readyState === socket.OPEN && reading()) socket.pong(payload);
    });
  });
}
