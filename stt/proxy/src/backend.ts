import type WebSocket from 'ws';
import { openSocket, type Endpoint, type SocketHandlers } from '@vtuber-stt/core';
import { parseBuckets, quantileBetween, type Buckets } from './latency_histogram.js';

/** What the proxy knows of one STT service, refreshed by polling its /ready and /metrics. */
export type BackendName = 'cpu' | 'gpu' | 'detect';
export type BackendState = 'down' | 'loading' | 'ready';

export interface BackendStatus {
  name: BackendName;
  url: string;
  state: BackendState;
  device?: string;
  model?: string | null;
  backend?: string;
  queue_depth?: number;
  /** Recent request latency as the service measures it (its histogram over the last minute), else as seen through this proxy. */
  p50_ms?: number;
  p95_ms?: number;
  error?: string;
  checked_at?: string;
  /** Sessions this proxy has on it now (each holds a connection to it while it is used). */
  sessions?: number;
  /** What it admits at once per WebSocket route, as its /ready says (STT_MAX_CONNECTIONS). */
  max_connections?: number;
}

/** errno codes that mean this process (EMFILE) or the whole system (ENFILE) has no file descriptor left. */
const EXHAUSTION = new Set(['EMFILE', 'ENFILE']);

/**
 * Whether a failed connect or fetch failed for want of a file descriptor here, in the proxy: the
 * backend was never reached, so it is not down and must not be marked so (fetch wraps the cause).
 */
export function isLocalExhaustion(error: unknown): boolean {
  for (let e = error as { code?: unknown; cause?: unknown; errors?: unknown } | undefined, depth = 0; e && depth < 4; e = e.cause as typeof e, depth++) {
    if (typeof e.code === 'string' && EXHAUSTION.has(e.code)) return true;
    if (Array.isArray(e.errors) && e.errors.some(isLocalExhaustion)) return true;
  }
  return false;
}

/** The answer to a request the proxy could not relay for want of file descriptors: its own overload, named as such. */
export function localExhaustionMessage(backend: string): string {
  return `stt_proxy has run out of file descriptors and could not open a connection to the ${backend} backend (which is not at fault); try again shortly, or raise the proxy's open-file limit (ulimit -n)`;
}

const RECENT = 200;
/** How far back "recent" reaches in the services' own latency histograms. */
const WINDOW_MS = 60_000;

function percentile(sorted: number[], p: number): number | undefined {
  if (sorted.length === 0) return undefined;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

export class Backend {
  state: BackendState = 'down';
  private detail: Record<string, unknown> = {};
  private queueDepth?: number;
  private error?: string;
  private checkedAt?: Date;
  private readonly latencies: number[] = [];
  private readonly snapshots: { at: number; buckets: Buckets }[] = [];

  /** Sessions this proxy has on it now: what each still owes counts as its load. */
  private readonly sessions = new Set<{ readonly waiting: number }>();

  constructor(
    readonly name: BackendName,
    readonly url: string,
    /** The host name this member's address was resolved from (pools), if any. */
    readonly host?: string,
    /** Sent with every request to it: the proxy's own API key, when the backends ask for one. */
    readonly headers: Record<string, string> = {},
  ) {}

  /**
   * What it admits at once (its /ready's max_connections; unknown until a poll says). The
   * proxy's sessions take at most `sessionSlots` of it: the rest stays free for REST requests,
   * which reach the engine through the same route, and for other proxies.
   */
  get capacity(): number | undefined {
    const n = this.detail.max_connections;
    return typeof n === 'number' && Number.isInteger(n) && n > 0 ? n : undefined;
  }

  /** Connections this proxy's sessions may hold on it: all but an eighth of its capacity (at least one kept free). */
  get sessionSlots(): number {
    const capacity = this.capacity;
    if (capacity === undefined) return Infinity;
    return Math.max(1, capacity - Math.max(1, Math.floor(capacity / 8)));
  }

  /** Whether one more session may connect to it: under its session slots (see capacity). */
  admitsSession(): boolean {
    return this.sessions.size < this.sessionSlots;
  }

  /** Counts a session on this member until the returned function is called. */
  attach(session: { readonly waiting: number }): () => void {
    this.sessions.add(session);
    return () => this.sessions.delete(session);
  }

  /**
   * How busy it is, for choosing where a new session goes: its inference queue as its /metrics
   * last said plus the flushes and utterances our sessions on it still wait for; then how many
   * sessions it has. A member whose session slots are taken comes after every one with room.
   */
  get load(): number {
    let owed = 0;
    for (const s of this.sessions) owed += s.waiting;
    return (this.admitsSession() ? 0 : 1e9) + ((this.queueDepth ?? 0) + owed) * 1000 + this.sessions.size;
  }

  /** ws:// URL of a path on this backend. */
  wsUrl(path: string, query = ''): string {
    return `${this.url.replace(/^http/, 'ws').replace(/\/+$/, '')}${path}${query}`;
  }

  /** A WebSocket path on this member as a link's endpoint: its URL with the proxy's key for it. */
  endpoint(path: string, query = ''): Endpoint {
    return { name: this.name, url: this.wsUrl(path, query), headers: this.headers };
  }

  /**
   * Opens a WebSocket to a path on this member: the one way the proxy connects to a backend
   * (links that reconnect use `endpoint` with the same opener), with the proxy's key, the connect
   * timeout, and a refused handshake's reason (see openSocket). `signal` abandons it while opening.
   */
  connect(path: string, query: string, on: SocketHandlers, signal?: AbortSignal): Promise<WebSocket> {
    const { url, headers } = this.endpoint(path, query);
    return openSocket(url, on, { headers, signal });
  }

  observe(latencyMs: number): void {
    this.latencies.push(latencyMs);
    if (this.latencies.length > RECENT) this.latencies.shift();
  }

  /** A failed connection marks the backend down at once, without waiting for the next poll. */
  markDown(reason: string): void {
    this.state = 'down';
    this.error = reason;
  }

  async poll(timeoutMs = 1500): Promise<void> {
    const signal = AbortSignal.timeout(timeoutMs);
    try {
      const ready = await fetch(`${this.url}/ready`, { signal });
      const body = (await ready.json()) as Record<string, unknown>;
      this.detail = body;
      this.state = ready.status === 200 ? 'ready' : body.status === 'failed' ? 'down' : 'loading';
      this.error = typeof body.error === 'string' ? body.error : undefined;
      const metrics = await fetch(`${this.url}/metrics`, { signal, headers: this.headers }).then((r) => r.text());
      const q = /^stt_queue_depth(?:\{[^}]*\})? ([\d.]+)/m.exec(metrics);
      this.queueDepth = q ? Number(q[1]) : undefined;
      const now = Date.now();
      this.snapshots.push({ at: now, buckets: parseBuckets(metrics, 'stt_request_latency_seconds') });
      while (this.snapshots.length > 2 && this.snapshots[1]!.at <= now - WINDOW_MS) this.snapshots.shift();
    } catch (error) {
      // Out of descriptors here says nothing about the backend: keep what the last poll found.
      if (isLocalExhaustion(error)) return;
      this.state = 'down';
      this.error = `unreachable: ${(error as Error).message}`;
    }
    this.checkedAt = new Date();
  }

  status(): BackendStatus {
    const sorted = [...this.latencies].sort((a, b) => a - b);
    const newest = this.snapshots.at(-1)?.buckets;
    // The oldest snapshot still in the window is the baseline; with a single one, count from zero.
    const baseline = this.snapshots.length > 1 ? this.snapshots[0]!.buckets : undefined;
    const measured = (q: number) => (newest ? quantileBetween(baseline, newest, q) : undefined);
    const round = (v: number | undefined) => (v === undefined ? undefined : Math.round(v));
    return {
      name: this.name,
      url: this.url,
      state: this.state,
      device: this.detail.device as string | undefined,
      model: this.detail.model as string | null | undefined,
      backend: this.detail.backend as string | undefined,
      queue_depth: this.queueDepth,
      p50_ms: round(measured(0.5) ?? percentile(sorted, 50)),
      p95_ms: round(measured(0.95) ?? percentile(sorted, 95)),
      error: this.state === 'ready' ? undefined : this.error,
      checked_at: this.checkedAt?.toISOString(),
      sessions: this.sessions.size,
      max_connections: this.capacity,
    };
  }
}
