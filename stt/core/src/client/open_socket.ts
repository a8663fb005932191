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
}

/** A handshake the server answered with an HTTP status instead of the upgrade. */
export class HandshakeRefused extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message || `the server answered the handshake with HTTP ${status}`);
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

/** Opens a WebSocket, failing after `timeoutMs` or when the server refuses or closes it first. */
export function openSocket(url: string, on: SocketHandlers, timeoutMs = 3000, headers?: Record<string, string>): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(url, { headers });
    let opened = false;
    const timer = setTimeout(() => {
      socket.terminate();
      reject(new Error(`connecting to ${url} timed out`));
    }, timeoutMs);
    socket.once('open', () => {
      clearTimeout(timer);
      opened = true;
      on.open(socket);
      resolve(socket);
    });
    // A handshake answered with an HTTP error (a wrong key, a refused origin): its body says why.
    socket.once('unexpected-response', (_request, response) => {
      const chunks: Buffer[] = [];
      let size = 0;
      const done = () => {
        clearTimeout(timer);
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
      clearTimeout(timer);
      if (!opened) reject(error); // once open, 'close' follows and says what happened
    });
    socket.on('close', (code, reason) => {
      clearTimeout(timer);
      if (opened) on.close(socket, code, reason.toString());
      else reject(new Error(`connection refused (${code} ${reason.toString()})`));
    });
  });
}
