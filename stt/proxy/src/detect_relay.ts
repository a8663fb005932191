import WebSocket from 'ws';
import { closeCodeOf, isPermanentClose, type SocketPeer } from '@vtuber-stt/core';
import type { Backend } from './backend.js';

const RECONNECT = closeCodeOf('unreachable')!;
/**
 * Frames of one session the service holds unanswered at a time. A client's socket is read in
 * chunks (64 KiB: 8,000 tiny frames), all of which arrive here at once even with its reading
 * paused; passed on together they would queue at the service ahead of every other session's.
 */
const WINDOW = 32;

/** One client's /ws/detect, piped to the detection service. */
export interface DetectPipe {
  /**
   * Resolves once the service has answered the frame (every frame of /ws/detect gets exactly one
   * reply) or the pipe has ended. Frames past WINDOW wait here, and the scaffold stops reading a
   * client with too many frames unanswered, so a flood waits at its own client, not in the buffers
   * between here and the service, where everyone else's frames would queue behind it.
   */
  frame(data: Buffer, binary: boolean): Promise<void>;
  close(): void;
}

/**
 * /ws/detect through the proxy: a pipe to the detection service, one upstream per client. Frames
 * that arrive before the upstream is open wait (in order), so none is lost. A frame over
 * STT_PROXY_MAX_FRAME_BYTES is answered `frame_too_large` here and not passed on (as on
 * /ws/transcribe), and the session goes on. If the service refused the request itself (a
 * permanent close such as 1008 for a bad query string), that code and reason reach the client as
 * they are; any other loss of the upstream closes the client with 1013 so it reconnects.
 */
export function pipeDetect(client: SocketPeer, backend: Backend, query: string, maxFrameBytes: number): DetectPipe {
  /** The upstream once open; undefined while it is being opened. */
  let upstream: WebSocket | undefined;
  /** False once the upstream has closed or failed to open: frames are no longer taken. */
  let live = true;
  const opening = new AbortController();
  /** Frames not passed on yet (the upstream still opening, or WINDOW unanswered), in order. */
  const waiting: { data: Buffer; binary: boolean; answered: () => void }[] = [];
  /** One resolver per frame passed on and not answered yet, oldest first. */
  const unanswered: (() => void)[] = [];
  const pump = () => {
    while (waiting.length && unanswered.length < WINDOW && upstream?.readyState === WebSocket.OPEN) {
      const m = waiting.shift()!;
      unanswered.push(m.answered);
      upstream.send(m.data, { binary: m.binary });
    }
  };
  const settleAll = () => {
    for (const answered of unanswered.splice(0)) answered();
    for (const m of waiting.splice(0)) m.answered();
  };
  let clientGone = false;
  let failure: Error | undefined;
  /** The upstream could not be reached (or failed once open): the member is down unless the client left first. */
  const unreachable = (error: Error) => {
    live = false;
    settleAll();
    // Abandoning a connection still being opened (the client left) is not the service's failure.
    if (!clientGone) backend.markDown(error.message);
    client.close(RECONNECT, `detection service unreachable: ${error.message}`);
  };
  backend
    .connect('/ws/detect', query, {
      open: (socket) => {
        upstream = socket;
        pump();
      },
      // The service answers every frame with JSON text.
      message: (_socket, text) => {
        client.sendFrame(text, false);
        unanswered.shift()?.();
        pump();
      },
      // 'close' always follows 'error', with the service's own code when it sent a close frame
      // first (its 1009 for a frame past its limit arrives while the proxy may still be writing).
      error: (_socket, error) => {
        failure = error;
      },
      close: (_socket, code, reason) => {
        if (failure && code === 1006) return unreachable(failure);
        live = false;
        settleAll();
        if (isPermanentClose(code)) return client.close(code, reason || `detection service refused the session (${code})`);
        client.close(RECONNECT, `detection service closed (${code}${reason ? ` ${reason}` : ''}); reconnect`);
      },
    }, opening.signal)
    .catch(unreachable);
  return {
    frame(data, binary) {
      if (binary && data.length > maxFrameBytes) {
        client.fail({ type: 'error', code: 'frame_too_large', error: `frame of ${data.length} bytes exceeds the ${maxFrameBytes}-byte limit (STT_PROXY_MAX_FRAME_BYTES); send smaller chunks` });
        return Promise.resolve();
      }
      if (!live) return Promise.resolve();
      return new Promise<void>((answered) => {
        waiting.push({ data, binary, answered });
        pump();
      });
    },
    close() {
      clientGone = true;
      live = false;
      settleAll();
      if (!upstream) opening.abort();
      else if (upstream.readyState === WebSocket.OPEN) upstream.close(1000, 'client left');
    },
  };
}
