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
