import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { RawData, WebSocket } from 'ws';
import { z } from 'zod';
import { describeIssues, type ErrorMessage } from '../protocol/messages.js';
import { closeCodeOf, codeOf, type ErrorCode } from '../protocol/errors.js';
import { closeReason } from '../protocol/close_codes.js';
import { setting } from '../settings.js';
import { answerPings, DEFAULT_HEARTBEAT, keepAlive, type Heartbeat } from './heartbeat.js';

export { DEFAULT_HEARTBEAT, heartbeatSettings, type Heartbeat } from './heartbeat.js';

/** What a protocol may do with its connection; the route owns the socket itself. */
export interface SocketPeer {
  /** A JSON message, if the socket is still open. */
  send(message: object): void;
  /** A frame as it is (a relay passing on what its upstream said). */
  sendFrame(data: string | Buffer, binary: boolean): void;
  /** An error in the protocol's own shape (see `SocketProtocol.errorShape`), counted by code. */
  fail(error: ErrorMessage): void;
  close(code: number, reason: string): void;
  readonly open: boolean;
}

/**
 * One WebSocket protocol: how a connection opens, what its frames mean, how it words an error.
 * `registerSocketRoute` does everything around it the same way for every protocol (the founding
 * `<flush>` one, server turns, detection, the proxy's relay and its OpenAI Realtime adapter):
 * admission, refusal of a bad query string, JSON parsing and validation, error replies, close.
 */
export interface SocketProtocol<S, C = never> {
  /** Why new connections are turned away right now (closed 1013, "try again later"), if they are. */
  unavailable?(): string | undefined;
  /** The connection's session. Throwing refuses the connection: 1008 with the error's message. */
  open(peer: SocketPeer, query: Record<string, unknown>, request: FastifyRequest): S;
  /** A binary frame; a promise while its work is still under way (the route then applies backpressure). */
  binary(session: S, frame: Buffer): void | Promise<unknown>;
  /**
   * A text frame before it is read as JSON (`<flush>`, or a relay that passes text on); true when
   * it took it, or a promise while its work is under way (backpressure, as for binary frames).
   */
  text?(session: S, text: string): boolean | Promise<unknown>;
  /** JSON control messages: their schema, and what the usage error tells a client to send. */
  control?: { schema: z.ZodType<C>; usage: string; handle(session: S, message: C): void };
  close(session: S): void;
  /** The wire shape of an error; the core protocol's `{type:"error", code, error}` by default. */
  errorShape?(error: ErrorMessage): object;
}

/**
 * Turns away the connection past `max`, or any while `unavailable` says so, with 1013 and a
 * reason naming the cause; counts the ones it lets in.
 */
export class ConnectionGate {
  private count = 0;

  constructor(
    private readonly max: number,
    private readonly setting: string,
    private readonly onChange?: (open: number) => void,
    /** Why the engine takes no new session now (at_capacity), if it does not. */
    private readonly atCapacity?: () => { reason: string; retryAfterS: number } | undefined,
  ) {}

  get open(): number {
    return this.count;
  }

  /**
   * The refusal for one more connection now, or undefined. A `resumed` session was admitted
   * before (a relay reconnecting after an idle release or a failover): load never refuses it, so
   * a streamer let in is not turned away mid-show; the connection limit still holds.
   */
  refusal(unavailable?: string, resumed = false): { code: ErrorCode; reason: string; retryAfterS?: number } | undefined {
    if (unavailable) return { code: 'not_ready', reason: unavailable };
    if (this.count >= this.max) return { code: 'busy', reason: `server busy: ${this.max} connections (${this.setting})` };
    const load = resumed ? undefined : this.atCapacity?.();
    return load ? { code: 'at_capacity', reason: load.reason, retryAfterS: load.retryAfterS } : undefined;
  }

  admit(socket: WebSocket): void {
    this.count++;
    this.onChange?.(this.count);
    socket.once('close', () => {
      this.count--;
      this.onChange?.(this.count);
    });
  }
}

export interface SocketRouteOptions {
  gate: ConnectionGate;
  /** Replies a client may leave unread before it is closed (1008); 1 MiB by default. */
  maxUnsentBytes?: number;
  /** Frames of one connection whose work may be under way before its socket stops being read; 64 by default. */
  maxPendingFrames?: number;
  /** The WebSocket server's own frame limit (its maxPayload), named in the reason when it closes 1009. */
  payloadLimit?: number;
  /** Pings to every peer and how long a pong may take (STT_WS_PING_INTERVAL_MS, STT_WS_PING_TIMEOUT_MS). */
  heartbeat?: Heartbeat;
  /** Counts every error sent and every refusal, by code. */
  countError?: (code: string) => void;
  /** Counts each connection refused at connect, by code (besides countError). */
  countRefusal?: (code: string) => void;
  /** STT_RELAY_SECRET: a handshake whose RESUMED_SESSION_HEADER carries it resumes a session admitted before. */
  relaySecret?: string;
  warn?: (error: Error) => void;
}

export function toBuffer(data: RawData): Buffer {
  if (Buffer.isBuffer(data)) return data;
  if (Array.isArray(data)) return Buffer.concat(data);
  return Buffer.from(data);
}

export function sendJson(socket: WebSocket, message: object): void {
  if (socket.readyState === socket.OPEN) socket.send(JSON.stringify(message));
}

/**
 * What the WebSocket server of every app whose routes use this scaffold is given: its frame limit,
 * and no automatic pongs (the scaffold answers pings itself: see `answerPings`).
 */
export const socketServerOptions = (maxPayload: number) => ({ maxPayload, autoPong: false });

const defaultShape = (error: ErrorMessage): object => error;
const DEFAULT_MAX_UNSENT = 1024 * 1024;
const DEFAULT_MAX_PENDING = 64;

/**
 * Inbound backpressure: a connection whose frames arrive faster than their work completes stops
 * being read (TCP holds the rest at the client) until it has caught up, so a flood costs the
 * server a bounded backlog, never an unbounded queue of promises.
 */
function backpressure(socket: WebSocket, max: number): (work: Promise<unknown>) => void {
  let pending = 0;
  let paused = false;
  return (work) => {
    if (++pending >= max && !paused) {
      paused = true;
      socket.pause();
    }
    const done = () => {
      if (--pending <= max / 2 && paused) {
        paused = false;
        socket.resume();
      }
    };
    work.then(done, done);
  };
}

/**
 * `ws` closes a connection itself on a frame it cannot take (too large, invalid UTF-8, a
 * protocol violation), with the code but no reason. Every close should say why: this fills in
 * the reason whenever a close comes without one. A close also resumes reading a socket held back
 * by backpressure, or the peer's answering close frame would never be read.
 */
function closeWell(socket: WebSocket, payloadLimit?: number): void {
  const close = socket.close.bind(socket);
  const reasons: Record<number, string> = {
    [closeCodeOf('protocol_error')!]: 'protocol error: the frame broke the WebSocket protocol',
    [closeCodeOf('invalid_utf8')!]: 'invalid UTF-8 in a text frame: text frames must be UTF-8 (audio goes in binary frames)',
    [closeCodeOf('payload_too_large')!]: `frame too large: over ${payloadLimit ?? 'the server'}${payloadLimit ? ' bytes' : "'s limit"}; send audio in smaller chunks`,
  };
  socket.close = (code?: number, reason?: string | Buffer) => {
    socket.resume();
    close(code, reason ?? (code !== undefined ? reasons[code] : undefined));
  };
}

/**
 * Sent by a relay (the proxy) when it reconnects a session a member admitted before, with the
 * secret both share (STT_RELAY_SECRET): admission by load does not apply to it. Only the holder of
 * the secret can claim it; without one configured, the header means nothing.
 */
export const RESUMED_SESSION_HEADER = 'x-stt-resumed-session';

/** STT_RELAY_SECRET, one setting on both sides (the proxy's and the services' tables; `help` says which side). */
export const relaySecretSetting = (help: string) => setting('STT_RELAY_SECRET', '--relay-secret <secret>', help, z.string().min(16, 'must have at least 16 characters').optional());

const sha256 = (text: string) => createHash('sha256').update(text).digest();

/** Whether a handshake's header carries the relay's secret: digests compared in constant time, whatever the lengths. */
function secretCheck(secret: string | undefined): (value: string | string[] | undefined) => boolean {
  if (secret === undefined) return () => false;
  const expected = sha256(secret);
  return (value) => typeof value === 'string' && timingSafeEqual(sha256(value), expected);
}

/** Registers `path` as a WebSocket route speaking `protocol`. */
export function registerSocketRoute<S, C>(app: FastifyInstance, path: string, protocol: SocketProtocol<S, C>, options: SocketRouteOptions): void {
  const shape = protocol.errorShape ?? defaultShape;
  const resumes = secretCheck(options.relaySecret);
  app.get(path, { websocket: true, config: { socketScaffold: true } }, (socket: WebSocket, request) => {
    // Keys and origins were checked before the upgrade (their hooks answer the handshake itself).
    const refusal = options.gate.refusal(protocol.unavailable?.(), resumes(request.headers[RESUMED_SESSION_HEADER]));
    if (refusal) {
      // Refused after the upgrade: the error in the protocol's own shape first, then the close.
      options.countError?.(refusal.code);
      options.countRefusal?.(refusal.code);
      sendJson(socket, shape({ type: 'error', code: refusal.code, error: refusal.reason, ...(refusal.retryAfterS === undefined ? {} : { retry_after_s: refusal.retryAfterS }) }));
      socket.close(closeCodeOf(refusal.code), closeReason(refusal.reason));
      return;
    }
    options.gate.admit(socket);
    closeWell(socket, options.payloadLimit);
    const maxUnsent = options.maxUnsentBytes ?? DEFAULT_MAX_UNSENT;
    // A client that sends but never reads would make its replies pile up here without end.
    const reading = () => {
      if (socket.bufferedAmount <= maxUnsent) return true;
      options.countError?.('not_reading');
      socket.close(closeCodeOf('not_reading'), closeReason(`replies are not being read: over ${maxUnsent} bytes unsent; read what the server sends`));
      return false;
    };
    answerPings(socket, reading);
    const heartbeat = options.heartbeat ?? DEFAULT_HEARTBEAT;
    keepAlive(socket, heartbeat, (why, waitedMs) => {
      options.countError?.(why);
      const reason =
        why === 'not_reading'
          ? `replies are not being read: no answer to a ping in ${waitedMs} ms while frames kept coming`
          : `no answer to a ping in ${waitedMs} ms (STT_WS_PING_TIMEOUT_MS): closed as dead; reconnect`;
      socket.close(closeCodeOf(why), closeReason(reason));
      // A dead peer cannot answer the close frame either: its slot is freed without waiting for it.
      setTimeout(() => socket.terminate(), Math.min(heartbeat.timeoutMs, 1000)).unref();
    });
    const peer: SocketPeer = {
      send: (message) => {
        if (reading()) sendJson(socket, message);
      },
      sendFrame: (data, binary) => {
        if (socket.readyState === socket.OPEN && reading()) socket.send(data, { binary });
      },
      fail: (error) => {
        options.countError?.(error.code);
        if (reading()) sendJson(socket, shape(error));
      },
      close: (code, reason) => {
        if (socket.readyState === socket.OPEN || socket.readyState === socket.CONNECTING) socket.close(code, closeReason(reason));
      },
      get open() {
        return socket.readyState === socket.OPEN;
      },
    };

    let session: S;
    try {
      session = protocol.open(peer, request.query as Record<string, unknown>, request);
    } catch (error) {
      // A query string that cannot describe the session ends the connection at once, with the reason.
      const code = codeOf(error, 'bad_query');
      options.countError?.(code);
      sendJson(socket, shape({ type: 'error', code, error: (error as Error).message }));
      const reason = code === 'bad_query' ? `bad query string: ${(error as Error).message}` : (error as Error).message;
      socket.close(closeCodeOf(code) ?? closeCodeOf('bad_query'), closeReason(reason));
      return;
    }

    const track = backpressure(socket, options.maxPendingFrames ?? DEFAULT_MAX_PENDING);
    socket.on('message', (data: RawData, isBinary: boolean) => {
      // Closing (refused, or not reading its replies): what still arrives is not worked on.
      if (socket.readyState !== socket.OPEN) return;
      const bytes = toBuffer(data);
      if (isBinary) {
        const work = protocol.binary(session, bytes);
        if (work) track(work);
        return;
      }
      const text = bytes.toString('utf8');
      const took = protocol.text?.(session, text);
      if (took) {
        if (took instanceof Promise) track(took);
        return;
      }
      const control = protocol.control;
      if (!control) return peer.fail({ type: 'error', code: 'bad_message', error: 'this route takes no text messages' });
      let json: unknown;
      try {
        json = JSON.parse(text);
      } catch {
        return peer.fail({ type: 'error', code: 'bad_message', error: `unknown command ${JSON.stringify(text.slice(0, 40))}: ${control.usage}` });
      }
      const parsed = control.schema.safeParse(json);
      if (!parsed.success) return peer.fail({ type: 'error', code: 'bad_message', error: `invalid message: ${describeIssues(parsed.error)}` });
      try {
        control.handle(session, parsed.data);
      } catch (error) {
        // Thrown inside ws's message listener it would end the process: answered on this connection only.
        options.warn?.(error as Error);
        peer.fail({ type: 'error', code: codeOf(error, 'internal_error'), error: `could not handle ${(parsed.data as { type?: string }).type ?? 'the message'}: ${(error as Error).message}` });
      }
    });
    socket.on('close', () => protocol.close(session));
    socket.on('error', (error) => options.warn?.(error));
  });
}
