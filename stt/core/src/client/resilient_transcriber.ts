import WebSocket, { type RawData } from 'ws';
import { FLUSH_COMMAND } from '../protocol/messages.js';

export interface Endpoint {
  /** Name reported with replies (e.g. "cpu"), if any. */
  name?: string;
  url: string;
}

export interface ResilientOptions {
  /** The endpoint to (re)connect to; `failed` is the one that just failed, if any. */
  next: (failed?: Endpoint) => Endpoint;
  /** Unanswered audio kept for replay. Past it `sendAudio` refuses the frame and says so. */
  maxReplayBytes: number;
  /**
   * Connection attempts per outage before every waiting flush is answered with an error.
   * Undefined: keep trying forever (with backoff), holding the audio.
   */
  attempts?: number;
  /** First retry delay; it doubles up to maxDelayMs. */
  retryDelayMs?: number;
  maxDelayMs?: number;
  /**
   * Error codes that mean "not now" rather than "never" (e.g. engine_unavailable from a proxy whose
   * backends are restarting): the flush stays pending and everything unanswered is sent again on a
   * fresh connection after a pause, in order.
   */
  retryCodes?: readonly string[];
  /** Answer to one flush, renumbered to the caller's own sequence. */
  onReply: (message: Record<string, unknown>, endpoint: Endpoint, latencyMs: number) => void;
  /** Anything else the server says (config acks, errors about single frames). */
  onMessage?: (message: Record<string, unknown>) => void;
  onConnectionChange?: (event: { type: 'connected' | 'lost' | 'failed'; endpoint: Endpoint; detail?: string; pending: number }) => void;
}

interface PendingFlush {
  seq: number;
  audio: Buffer[];
  sentAt: number;
}

/**
 * A /ws/transcribe connection that does not lose utterances. It keeps every frame not yet
 * answered (the audio of flushes in flight and the audio since the last flush); when the
 * connection drops it reconnects (to the same or another endpoint), replays them, and renumbers
 * the replies so the caller sees exactly one reply per flush, in order. The proxy uses it
 * towards its backends, the microphone client towards the proxy.
 */
export class ResilientTranscriber {
  private endpoint?: Endpoint;
  private socket?: WebSocket;
  private connecting = false;
  private closed = false;
  private readonly pending: PendingFlush[] = [];
  private current: Buffer[] = [];
  private config: Record<string, unknown> = {};
  private nextSeq = 1;
  private swallowConfigAcks = 0;
  /** While replaying, errors about single frames were already reported once. */
  private replaying = false;
  /** Failovers since the last answered flush: endpoints that accept and then drop us must not loop. */
  private failovers = 0;
  private readonly backlog: { data: Buffer | string; binary: boolean; seq?: number }[] = [];
  private retryTimer?: NodeJS.Timeout;
  private idleWaiters: (() => void)[] = [];

  constructor(private readonly options: ResilientOptions) {
    void this.connect();
  }

  get endpointName(): string | undefined {
    return this.endpoint?.name;
  }

  /** Flushes sent and not yet answered. */
  get waiting(): number {
    return this.pending.length;
  }

  get bufferedBytes(): number {
    let n = 0;
    for (const p of this.pending) for (const b of p.audio) n += b.length;
    for (const b of this.current) n += b.length;
    return n;
  }

  /** Appends audio; returns an error text when the replay bound refuses it (nothing is kept then). */
  sendAudio(frame: Buffer): string | undefined {
    if (this.connecting) {
      this.backlog.push({ data: frame, binary: true });
      return undefined;
    }
    if (this.bufferedBytes + frame.length > this.options.maxReplayBytes) {
      return `replay buffer of ${this.options.maxReplayBytes} bytes is full: this frame was not added; flush more often`;
    }
    this.current.push(frame);
    if (this.live()) this.socket!.send(frame);
    return undefined;
  }

  /** Sends `<flush>`; the reply arrives through onReply with this sequence number. */
  flush(): number {
    const seq = this.nextSeq++;
    if (this.connecting) {
      this.backlog.push({ data: FLUSH_COMMAND, binary: false, seq });
      return seq;
    }
    this.flushAs(seq);
    return seq;
  }

  /** A JSON control message (config, reset), remembered so a replacement connection gets the same settings. */
  control(text: string): boolean {
    if (this.connecting) {
      this.backlog.push({ data: text, binary: false });
      return true;
    }
    if (!this.live()) return false;
    try {
      const message = JSON.parse(text) as Record<string, unknown>;
      if (message.type === 'config') this.config = { ...this.config, ...message };
      if (message.type === 'reset') this.current = [];
    } catch {
      // Not JSON: the server answers with its own error message.
    }
    this.socket!.send(text);
    return true;
  }

  /** Resolves once every flush sent so far has been answered. */
  idle(): Promise<void> {
    if (this.pending.length === 0 && !this.backlog.some((b) => b.seq !== undefined)) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  close(): void {
    this.closed = true;
    clearTimeout(this.retryTimer);
    this.socket?.close();
  }

  private live(): boolean {
    return !this.connecting && this.socket?.readyState === WebSocket.OPEN;
  }

  private fromServer(data: RawData): void {
    let message: Record<string, unknown>;
    try {
      message = JSON.parse(data.toString()) as Record<string, unknown>;
    } catch {
      return;
    }
    if (typeof message.seq === 'number') {
      if (message.type === 'error' && this.options.retryCodes?.includes(String(message.code))) {
        this.retrySoon(String(message.error));
        return;
      }
      this.failovers = 0;
      const flush = this.pending.shift();
      if (!flush) return;
      message.seq = flush.seq;
      if (this.pending.length === 0) {
        this.replaying = false;
        for (const w of this.idleWaiters.splice(0)) w();
      }
      this.options.onReply(message, this.endpoint!, performance.now() - flush.sentAt);
      return;
    }
    if (message.type === 'config' && this.swallowConfigAcks > 0) {
      this.swallowConfigAcks--;
      return;
    }
    if (this.replaying && message.type === 'error') return;
    this.options.onMessage?.(message);
  }

  private async connect(failed?: Endpoint): Promise<void> {
    if (this.closed) return;
    this.connecting = true;
    const limit = this.options.attempts;
    const exhausted = limit !== undefined && this.failovers > 4;
    let delay = this.options.retryDelayMs ?? 250;
    for (let attempt = 0; !exhausted && (limit === undefined || attempt < limit) && !this.closed; attempt++) {
      const endpoint = this.options.next(attempt === 0 ? failed : undefined);
      try {
        const socket = await open(endpoint.url);
        if (this.closed) {
          socket.close();
          return;
        }
        this.endpoint = endpoint;
        this.socket = socket;
        socket.on('message', (d) => this.fromServer(d));
        socket.on('close', (code, reason) => {
          if (this.socket === socket && !this.closed) this.lost(endpoint, `connection closed (${code}${reason.length ? ` ${reason.toString()}` : ''})`);
        });
        socket.on('error', () => undefined); // 'close' follows and handles it
        this.options.onConnectionChange?.({ type: 'connected', endpoint, pending: this.pending.length });
        this.replay(socket);
        this.drainBacklog();
        return;
      } catch (error) {
        this.options.onConnectionChange?.({ type: 'failed', endpoint, detail: (error as Error).message, pending: this.pending.length });
        await new Promise((r) => {
          this.retryTimer = setTimeout(r, delay);
        });
        delay = Math.min(delay * 2, this.options.maxDelayMs ?? 5000);
      }
    }
    // Out of attempts: every waiting flush gets its answer, as an error; later audio starts afresh.
    this.drainBacklog();
    for (const flush of this.pending.splice(0)) {
      this.options.onReply(
        { type: 'error', code: 'engine_unavailable', seq: flush.seq, error: 'no transcription service is reachable; the audio of this flush was not transcribed' },
        this.endpoint ?? { url: '' },
        performance.now() - flush.sentAt,
      );
    }
    for (const w of this.idleWaiters.splice(0)) w();
    this.current = [];
    this.socket = undefined;
    this.failovers = 0;
    this.retryTimer = setTimeout(() => {
      if (!this.closed && !this.socket && !this.connecting) void this.connect();
    }, 2000);
    this.retryTimer.unref();
  }

  private retrySoon(reason: string): void {
    const socket = this.socket;
    const endpoint = this.endpoint;
    if (!socket || !endpoint) return;
    // Nothing more from this connection counts: all it owes is replayed on the next one.
    socket.removeAllListeners('message');
    socket.removeAllListeners('close');
    socket.close();
    this.socket = undefined;
    this.connecting = true; // new input waits in the backlog meanwhile
    this.options.onConnectionChange?.({ type: 'lost', endpoint, detail: `server could not transcribe now (${reason}); retrying`, pending: this.pending.length });
    this.retryTimer = setTimeout(() => void this.connect(), this.options.retryDelayMs ?? 1000);
  }

  private lost(endpoint: Endpoint, reason: string): void {
    this.failovers++;
    this.options.onConnectionChange?.({ type: 'lost', endpoint, detail: reason, pending: this.pending.length });
    this.socket = undefined;
    void this.connect(endpoint);
  }

  private drainBacklog(): void {
    this.connecting = false;
    for (const m of this.backlog.splice(0)) {
      if (m.binary) this.sendAudio(m.data as Buffer);
      else if (m.seq !== undefined) this.flushAs(m.seq);
      else if (!this.control(m.data as string)) this.options.onMessage?.({ type: 'error', code: 'engine_unavailable', error: 'not connected: control message dropped' });
    }
  }

  /** A flush queued while connecting already has its number. */
  private flushAs(seq: number): void {
    this.pending.push({ seq, audio: this.current, sentAt: performance.now() });
    this.current = [];
    if (this.live()) this.socket!.send(FLUSH_COMMAND);
  }

  private replay(socket: WebSocket): void {
    if (Object.keys(this.config).length > 0) {
      this.swallowConfigAcks++;
      socket.send(JSON.stringify({ ...this.config, type: 'config' }));
    }
    this.replaying = this.pending.length > 0;
    for (const flush of this.pending) {
      for (const frame of flush.audio) socket.send(frame);
      socket.send(FLUSH_COMMAND);
    }
    for (const frame of this.current) socket.send(frame);
  }
}

function open(url: string, timeoutMs = 3000): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(url);
    const timer = setTimeout(() => {
      socket.terminate();
      reject(new Error(`connecting to ${url} timed out`));
    }, timeoutMs);
    socket.once('open', () => {
      clearTimeout(timer);
      resolve(socket);
    });
    socket.once('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    socket.once('close', (code, reason) => {
      clearTimeout(timer);
      reject(new Error(`connection refused (${code} ${reason.toString()})`));
    });
  });
}
