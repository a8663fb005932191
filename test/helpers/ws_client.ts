import WebSocket from 'ws';

/** A WebSocket client that queues what it receives, so tests can await replies in order. */
export class TestClient {
  readonly ws: WebSocket;
  private readonly inbox: unknown[] = [];
  private waiters: ((m: unknown) => void)[] = [];
  readonly opened: Promise<void>;
  readonly closed: Promise<{ code: number; reason: string }>;

  /** `options`: the ws client's own (a `ca` to trust for wss://, say). */
  constructor(url: string, options?: WebSocket.ClientOptions) {
    this.ws = new WebSocket(url, options);
    this.ws.on('message', (data) => {
      const message = JSON.parse(data.toString()) as unknown;
      const waiter = this.waiters.shift();
      if (waiter) waiter(message);
      else this.inbox.push(message);
    });
    this.opened = new Promise((resolve, reject) => {
      this.ws.once('open', () => resolve());
      this.ws.once('error', reject);
    });
    this.closed = new Promise((resolve) => this.ws.once('close', (code, reason) => resolve({ code, reason: reason.toString() })));
  }

  static async connect(url: string, options?: WebSocket.ClientOptions): Promise<TestClient> {
    const c = new TestClient(url, options);
    await c.opened;
    return c;
  }

  /** The next message, failing after `ms` so a missing reply is a clear failure, not a hang. */
  next<T = Record<string, unknown>>(ms = 30_000): Promise<T> {
    const queued = this.inbox.shift();
    if (queued !== undefined) return Promise.resolve(queued as T);
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w !== waiter);
        reject(new Error(`no message within ${ms} ms`));
      }, ms);
      const waiter = (m: unknown) => {
        clearTimeout(timer);
        resolve(m as T);
      };
      this.waiters.push(waiter);
    });
  }

  /** Sends PCM in chunks of `chunkBytes` (100 ms of 16 kHz s16le by default). */
  sendAudio(pcm: Buffer, chunkBytes = 3200): void {
    for (let i = 0; i < pcm.length; i += chunkBytes) this.ws.send(pcm.subarray(i, i + chunkBytes));
  }

  flush(): void {
    this.ws.send('<flush>');
  }

  close(): Promise<{ code: number; reason: string }> {
    this.ws.close();
    return this.closed;
  }
}
