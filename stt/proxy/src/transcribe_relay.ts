import WebSocket, { type RawData } from 'ws';
import type { Logger } from 'pino';
import { FLUSH_COMMAND } from '@vtuber-stt/core';
import type { Backend } from './backends.js';

export interface RelayOptions {
  /** Picks the backend for the first connection and for each failover (`avoid` just failed). */
  choose: (avoid?: Backend) => Backend;
  /** The client's query string (audio format), passed on to every backend connection. */
  query: string;
  /** Bytes of not-yet-answered audio kept for replay; past it the client is told, not silently cut. */
  maxReplayBytes: number;
  /** Connection attempts per failover before pending flushes are answered with an error. */
  attempts?: number;
  logger?: Logger;
  onReply?: (backend: Backend, latencyMs: number) => void;
}

interface PendingFlush {
  seq: number;
  audio: Buffer[];
  sentAt: number;
}

const FORMAT_BYTES: Record<string, number> = { s16le: 2, f32le: 4 };

/**
 * One client's /ws/transcribe session through the proxy. It keeps every frame not yet answered
 * (the audio of flushes in flight and the audio since the last flush), so that when the backend
 * fails mid-session it can move to the other backend, replay them, and the client still gets
 * exactly one reply per `<flush>`, in order, numbered as the client counted them.
 */
export class TranscribeRelay {
  private backend?: Backend;
  private socket?: WebSocket;
  private connecting = false;
  private closed = false;
  private readonly pending: PendingFlush[] = [];
  private current: Buffer[] = [];
  private config: Record<string, unknown> = {};
  private nextSeq = 1;
  /** Replies the backend owes for control messages the relay itself sent (replayed config). */
  private swallowConfigAcks = 0;
  /** While replaying, errors about single frames were already told to the client once. */
  private replaying = false;
  private readonly frameBytes: number;
  /** Failovers since the last answered flush: backends that accept and then drop us must not loop. */
  private failovers = 0;
  private readonly backlog: { data: Buffer; isBinary: boolean }[] = [];

  constructor(
    private readonly client: WebSocket,
    private readonly options: RelayOptions,
  ) {
    const params = new URLSearchParams(options.query.replace(/^\?/, ''));
    this.frameBytes = (FORMAT_BYTES[params.get('encoding') ?? 's16le'] ?? 2) * Number(params.get('channels') ?? 1);
    client.on('message', (data: RawData, isBinary: boolean) => this.fromClient(Buffer.isBuffer(data) ? data : Buffer.from(data as ArrayBuffer), isBinary));
    client.on('close', () => {
      this.closed = true;
      this.socket?.close();
    });
    void this.connect();
  }

  get backendName(): string | undefined {
    return this.backend?.name;
  }

  private bufferedBytes(): number {
    let n = 0;
    for (const p of this.pending) for (const b of p.audio) n += b.length;
    for (const b of this.current) n += b.length;
    return n;
  }

  private toClient(message: object): void {
    if (this.client.readyState === WebSocket.OPEN) this.client.send(JSON.stringify(message));
  }

  private live(): boolean {
    return !this.connecting && this.socket?.readyState === WebSocket.OPEN;
  }

  private fromClient(data: Buffer, isBinary: boolean): void {
    // While (re)connecting, messages wait in order so a config sent right after opening still
    // applies before the audio that follows it.
    if (this.connecting) {
      this.backlog.push({ data, isBinary });
      return;
    }
    if (isBinary) {
      // Checked here too, so a bad frame is not replayed (and reported twice) after a failover.
      if (data.length % this.frameBytes !== 0) {
        this.toClient({ type: 'error', code: 'bad_audio', error: `frame of ${data.length} bytes is not a whole number of ${this.frameBytes}-byte samples` });
        return;
      }
      if (this.bufferedBytes() + data.length > this.options.maxReplayBytes) {
        this.toClient({
          type: 'error',
          code: 'buffer_full',
          error: `proxy replay buffer of ${this.options.maxReplayBytes} bytes is full (STT_PROXY_MAX_REPLAY_BYTES): this frame was not added; flush more often`,
        });
        return;
      }
      this.current.push(data);
      if (this.live()) this.socket!.send(data);
      return;
    }
    const text = data.toString('utf8');
    if (text === FLUSH_COMMAND) {
      this.pending.push({ seq: this.nextSeq++, audio: this.current, sentAt: performance.now() });
      this.current = [];
      if (this.live()) this.socket!.send(text);
      return;
    }
    if (!this.live()) {
      this.toClient({ type: 'error', code: 'engine_unavailable', error: 'transcription backend is reconnecting; send the message again' });
      return;
    }
    // Control messages: remembered so a replacement backend gets the same settings.
    try {
      const message = JSON.parse(text) as Record<string, unknown>;
      if (message.type === 'config') this.config = { ...this.config, ...message };
      if (message.type === 'reset') this.current = [];
    } catch {
      // Not JSON: the backend answers with its own error message.
    }
    this.socket!.send(text);
  }

  private fromBackend(data: RawData): void {
    let message: Record<string, unknown>;
    try {
      message = JSON.parse(data.toString()) as Record<string, unknown>;
    } catch {
      return;
    }
    if (typeof message.seq === 'number') {
      this.failovers = 0;
      const flush = this.pending.shift();
      if (!flush) return;
      message.seq = flush.seq;
      message.backend = this.backend?.name;
      const latency = performance.now() - flush.sentAt;
      if (message.type === 'transcript') this.options.onReply?.(this.backend!, latency);
      if (this.pending.length === 0) this.replaying = false;
      this.toClient(message);
      return;
    }
    if (message.type === 'config' && this.swallowConfigAcks > 0) {
      this.swallowConfigAcks--;
      return;
    }
    if (this.replaying && message.type === 'error') return;
    this.toClient(message);
  }

  /** Connects (or reconnects) and replays everything not yet answered. */
  private async connect(avoid?: Backend): Promise<void> {
    if (this.closed) return;
    this.connecting = true;
    const attempts = this.failovers > 4 ? 0 : (this.options.attempts ?? 3);
    for (let attempt = 0; attempt < attempts && !this.closed; attempt++) {
      const backend = this.options.choose(attempt === 0 ? avoid : undefined);
      try {
        const socket = await open(backend.wsUrl('/ws/transcribe', this.options.query));
        if (this.closed) {
          socket.close();
          return;
        }
        this.backend = backend;
        this.socket = socket;
        socket.on('message', (d) => this.fromBackend(d));
        socket.on('close', () => {
          if (this.socket === socket && !this.closed) this.failover(backend, 'backend closed the connection');
        });
        socket.on('error', () => undefined); // 'close' follows and handles it
        this.replay(socket);
        this.drainBacklog();
        return;
      } catch (error) {
        backend.markDown((error as Error).message);
        this.options.logger?.warn({ backend: backend.name, err: error }, 'transcription backend unreachable');
        await new Promise((r) => setTimeout(r, 250 * 2 ** attempt));
      }
    }
    // Nothing to move to: every waiting flush gets its answer, as an error, and the session stays open.
    this.drainBacklog();
    for (const flush of this.pending.splice(0)) {
      this.toClient({ type: 'error', code: 'engine_unavailable', seq: flush.seq, error: 'no transcription backend is reachable; the audio of this flush was not transcribed' });
    }
    this.current = [];
    this.socket = undefined;
    this.failovers = 0;
    this.retryLater();
  }

  private drainBacklog(): void {
    this.connecting = false;
    for (const m of this.backlog.splice(0)) this.fromClient(m.data, m.isBinary);
  }

  private retryLater(): void {
    setTimeout(() => {
      if (!this.closed && !this.socket && !this.connecting) void this.connect();
    }, 2000).unref();
  }

  private failover(from: Backend, reason: string): void {
    this.failovers++;
    from.markDown(reason);
    this.options.logger?.warn({ backend: from.name, pending: this.pending.length }, `moving session off ${from.name}: ${reason}`);
    this.socket = undefined;
    void this.connect(from);
  }

  private replay(socket: WebSocket): void {
    const settings = Object.keys(this.config).length > 0;
    if (settings) {
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
      reject(new Error(`backend refused the connection (${code} ${reason.toString()})`));
    });
  });
}
