import WebSocket from 'ws';

export interface SocketHandlers {
  /**
   * Called inside the 'open' event, before anything the server sent with its handshake is
   * delivered: a refusal sent at once (an error, then a close) arrives in the same read as the
   * handshake, and would be lost if the caller set itself up only after an await.
   */
  open(socket: WebSocket): void;
  message(socket: WebSocket, text: string): void;
  close(socket: WebSocket, code: number, reason: string): void;
  /** A failure once open (the peer broke the protocol, say), just before the close that ends the socket. */
  error?(socket: WebSocket, error: Error): void;
}

export interface OpenOptions {
  /** How long the handshake may take (default CONNECT_TIMEOUT_MS). */
  timeoutMs?: number;
  /** Sent with the handshake: an API key for the peer. */
  headers?: Record<string, string>;
  /** Abandons a connection still being opened (its opener went away); no effect once open. */
  signal?: AbortSignal;
}

/** A peer that has not finished the handshake by then is treated as unreachable. */
export const CONNECT_TIMEOUT_MS = 3000;

/** The handshake took longer than its limit. */
export class ConnectTimeout extends Error {
  constructor(
    readonly url: string,
    readonly timeoutMs: number,
  ) {
    super(`connecting to ${url} timed out`);
  }
}

/** A handshake the server answered with an HTTP status instead of the upgrade. */
export class HandshakeRefused extends Error {
  constructor(
    readonly status: number,
    /** What the refusal's body said, if it said anything. */
    readonly reason: string,
  ) {
    super(reason || `the server answered the handshake with HTTP ${status}`);
  }

  /** A 4xx but 408 and 429: the same request would be refused again. */
  get permanent(): boolean {
    return this.status >= 400 && this.status < 500 && this.status !== 408 && this.status !== 429;
  }
}

/** The message of an error body in the core shape (`error`) or OpenAI's (`error.message`). */
function refusalMessage(body: string): string {
  try {
    const json = JSON.parse(body) as { error?: unknown };
    if (typeof json.error === 'string') return json.error;
    const nested = (json.error as { message?: unknown } | undefined)?.message;
    if (typeof nested === 'string') return nested;
  } catch {
    // not JSON: the status says it
  }
  return '';
}

/**
 * Opens a WebSocket, failing after the connect timeout, when the server refuses the handshake
 * (HandshakeRefused, its body's reason kept) or closes it first, or when `signal` abandons it.
 * Every connection the stack opens to a WebSocket peer of its own goes through here.
 */
export function openSocket(url: string, on: SocketHandlers, options: OpenOptions = {}): Promise<WebSocket> {
  const { timeoutMs = CONNECT_TIMEOUT_MS, headers, signal } = options;
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(new Error(`connecting to ${url} was abandoned`));
    const socket = new WebSocket(url, { headers });
    let opened = false;
    const settle = () => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', abandon);
    };
    const abandon = () => {
      settle();
      reject(new Error(`connecting to ${url} was abandoned`));
      socket.terminate();
    };
    signal?.addEventListener('abort', abandon, { once: true });
    const timer = setTimeout(() => {
      settle();
      reject(new ConnectTimeout(url, timeoutMs));
      socket.terminate();
    }, timeoutMs);
    socket.once('open', () => {
      settle();
      opened = true;
      on.open(socket);
      resolve(socket);
    });
    // A handshake answered with an HTTP error (a wrong key, a refused origin): its body says why.
    socket.once('unexpected-response', (_request, response) => {
      const chunks: Buffer[] = [];
      let size = 0;
      const done = () => {
        settle();
        reject(new HandshakeRefused(response.statusCode ?? 0, refusalMessage(Buffer.concat(chunks).toString('utf8'))));
        socket.terminate();
      };
      response.on('data', (chunk: Buffer) => {
        if (size < 4096) chunks.push(chunk);
        size += chunk.length;
      });
      response.once('end', done);
      response.once('error', done);
    });
    socket.on('message', (data) => on.message(socket, data.toString()));
    socket.on('error', (error) => {
      if (opened) return on.error?.(socket, error); // 'close' follows and ends it
      settle();
      reject(error);
    });
    socket.on('close', (code, reason) => {
      settle();
      if (opened) on.close(socket, code, reason.toString());
      else reject(new Error(`connection refused (${code} ${reason.toString()})`));
    });
  });
}
