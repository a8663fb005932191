import WebSocket from 'ws';
import { Backoff, DEFAULT_RETRY_POLICY, openSocket, type DetectReply, type DetectServerMessage } from '@vtuber-stt/core/client';

export interface DetectEvent {
  reply: DetectReply;
  /** Absolute sample position (client clock) where this detect connection's offset 0 lies. */
  base: number;
  /** Client-clock position of the chunk this reply answers. */
  chunkStart: number;
  chunkSamples: number;
}

/**
 * The /ws/detect side of the client. Replies come one per chunk, in order, so each is matched to
 * the chunk it answers; offsets in them count from this connection's first chunk. When the
 * connection drops it reconnects with backoff, on the transcription link's retry policy (detection
 * pauses meanwhile; the utterance being transcribed keeps its audio).
 */
export class DetectLink {
  private socket?: WebSocket;
  /** Abandons the connection being opened when the link is closed. */
  private opening?: AbortController;
  private base = -1;
  private readonly inFlight: { start: number; samples: number }[] = [];
  private closed = false;
  /** The config message sent on this connection is not answered yet. */
  private configOwed = false;
  private readonly backoff = new Backoff(DEFAULT_RETRY_POLICY);
  /** Callers of untilConnected, woken on the next open (or close). */
  private waiters: (() => void)[] = [];
  private firstOpen!: () => void;
  /** Resolves on the first successful connection. */
  readonly opened = new Promise<void>((resolve) => (this.firstOpen = resolve));

  constructor(
    private readonly url: string,
    private readonly onEvent: (e: DetectEvent) => void,
    private readonly onState: (state: 'connected' | 'lost' | 'config_refused', detail?: string) => void,
    /** Sent on every (re)connection before any audio: this connection's hysteresis (e.g. hangover_ms). */
    private readonly config?: Record<string, unknown>,
  ) {
    this.connect();
  }

  get connected(): boolean {
    return this.socket?.readyState === WebSocket.OPEN;
  }

  /** Chunks sent and not yet answered. */
  get pending(): number {
    return this.inFlight.length;
  }

  /** Resolves once at most `limit` chunks await their reply (or the connection is gone). */
  async drained(limit: number, timeoutMs = 10_000): Promise<void> {
    const until = Date.now() + timeoutMs;
    while (this.connected && this.inFlight.length > limit && Date.now() < until) await new Promise((r) => setTimeout(r, 5));
  }

  /** Resolves once connected (at once if it is), when the link is closed, or after `timeoutMs`. */
  untilConnected(timeoutMs: number): Promise<void> {
    if (this.connected || this.closed) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(done, timeoutMs);
      const waiters = this.waiters;
      function done() {
        clearTimeout(timer);
        const i = waiters.indexOf(done);
        if (i >= 0) waiters.splice(i, 1);
        resolve();
      }
      waiters.push(done);
    });
  }

  send(chunk: Buffer, start: number): void {
    if (this.socket?.readyState !== WebSocket.OPEN) return;
    if (this.base < 0) this.base = start;
    this.inFlight.push({ start, samples: chunk.length / 2 });
    this.socket.send(chunk);
  }

  close(): void {
    this.closed = true;
    this.opening?.abort();
    this.socket?.close();
    this.wake();
  }

  private wake(): void {
    for (const done of this.waiters.slice()) done();
  }

  private connect(): void {
    this.opening = new AbortController();
    openSocket(this.url, {
      open: (socket) => {
        this.socket = socket;
        this.base = -1;
        this.inFlight.length = 0;
        this.configOwed = this.config !== undefined;
        if (this.config) socket.send(JSON.stringify({ ...this.config, type: 'config' }));
        this.onState('connected');
        this.firstOpen();
        this.wake();
      },
      message: (_socket, text) => {
        const reply = JSON.parse(text) as DetectServerMessage;
        // A reply, not an open, shows a detector is there: a proxy with none behind it accepts the
        // connection and then closes it, and reconnecting at once would resend the catch-up each time.
        this.backoff.reset();
        // The config went out before any chunk, so the first reply answers it (an ack, or an error
        // that answers no chunk); after that every chunk gets one reply, in order.
        if (this.configOwed) {
          this.configOwed = false;
          if (reply.type === 'error') return this.onState('config_refused', reply.error);
          if (reply.type === 'config') return;
        }
        const chunk = this.inFlight.shift();
        if (!chunk || reply.type !== 'detect') return;
        this.onEvent({ reply, base: this.base, chunkStart: chunk.start, chunkSamples: chunk.samples });
      },
      close: (_socket, code, reason) => this.lost(`${code} ${reason}`.trim()),
    }, { signal: this.opening.signal }).catch((error: Error) => this.lost(error.message));
  }

  /** The connection failed or dropped: try again after the policy's wait. */
  private lost(detail: string): void {
    if (this.closed) return;
    this.onState('lost', detail);
    setTimeout(() => !this.closed && this.connect(), this.backoff.next()).unref();
  }
}
