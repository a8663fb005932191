import type WebSocket from 'ws';
import { bytesPerFrame, FLUSH_COMMAND, HandshakeRefused, isErrorCode, type TranscriptMessage } from '@vtuber-stt/core';
import { isLocalExhaustion, localExhaustionMessage, type Backend } from './backend.js';
import { HoldExpired, type WaitForMember } from './backend_pool.js';
import { MemberRefused, UpstreamError } from './upstream_error.js';
import type { UpstreamAudio } from './decode/audio_input.js';

/** What a backend said or failed to say, as the error a REST caller gets (status from the table). */
export interface OneShotOptions {
  language?: string;
  prompt?: string;
  translate?: boolean;
  /** Word times in each segment (whisper.cpp token timestamps). */
  words?: boolean;
  timeoutMs?: number;
  /** Fires when the client has gone: the upstream session is closed, so the service drops the work. */
  signal?: AbortSignal;
}

export const DEFAULT_TIMEOUT_MS = 120_000;
const CHUNK_BYTES = 256 * 1024;

/** The `/ws/transcribe` query string that declares the audio's format to the service. */
export function formatQuery(audio: UpstreamAudio, extra: Record<string, string> = {}): string {
  const { sampleRate, encoding, channels } = audio.format;
  return `?${new URLSearchParams({ ...extra, sample_rate: String(sampleRate), encoding, channels: String(channels) })}`;
}

/** The audio in frames of whole samples, each well under the services' frame limit. */
export function* chunksOf(audio: UpstreamAudio, bytes = CHUNK_BYTES): Generator<Buffer> {
  const frame = bytesPerFrame(audio.format);
  const size = Math.max(frame, bytes - (bytes % frame));
  for (let i = 0; i < audio.pcm.length; i += size) yield audio.pcm.subarray(i, i + size);
}

/** The config message for the options a request carries; undefined when the defaults do. */
export function configFor(options: OneShotOptions): string | undefined {
  const config: Record<string, unknown> = { type: 'config' };
  if (options.language) config.language = options.language;
  if (options.prompt) config.prompt = options.prompt;
  if (options.translate) config.translate = true;
  if (options.words) config.word_timestamps = true;
  return Object.keys(config).length > 1 ? JSON.stringify(config) : undefined;
}

/**
 * A service's error reply as a REST error: the code keeps its meaning (and its status in the
 * table); only the wording changes where the socket's advice ("send <flush>") would not fit.
 */
export function restError(reply: Record<string, unknown>): UpstreamError {
  const code = String(reply.code);
  const message = String(reply.error);
  switch (code) {
    case 'buffer_full':
      return new UpstreamError('the audio is longer than the transcription service keeps for one request (STT_MAX_BUFFER_SECONDS on the service); send shorter audio, or stream=true on /v1/audio/transcriptions', 'audio_too_long');
    case 'frame_too_large':
      return new UpstreamError('the transcription service refused a chunk of this upload as too large (STT_MAX_FRAME_BYTES on the service)', code);
    default:
      return new UpstreamError(message, isErrorCode(code) ? code : 'engine_error', typeof reply.retry_after_s === 'number' ? reply.retry_after_s : undefined);
  }
}

/**
 * A backend socket's error as a REST error: unreachable (failover, the member marked down), or the
 * proxy's own lack of file descriptors, which is overload here and leaves the backend alone.
 */
export function connectionError(backend: Backend, error: Error): UpstreamError {
  if (isLocalExhaustion(error)) return new UpstreamError(localExhaustionMessage(backend.name), 'overloaded');
  if (error instanceof HandshakeRefused && error.permanent) return new MemberRefused(backend, error);
  return new UpstreamError(`${backend.name} backend unreachable: ${error.message}`, 'unreachable');
}

/** The error of a request whose client left: not retried elsewhere, answered to nobody. */
export const abortedError = () => new UpstreamError('the client went away before the answer', 'aborted');

/** One utterance through a backend's /ws/transcribe: the REST routes' only path to an engine. */
function transcribeVia(backend: Backend, audio: UpstreamAudio, options: OneShotOptions): Promise<TranscriptMessage> {
  return new Promise((resolve, reject) => {
    const { signal } = options;
    if (signal?.aborted) return reject(abortedError());
    const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    let socket: WebSocket | undefined;
    /** Abandons the connection while it is still being opened. */
    const opening = new AbortController();
    const timer = setTimeout(() => {
      socket?.terminate();
      opening.abort();
      reject(new UpstreamError(`${backend.name} backend did not answer within ${timeoutMs} ms`, 'timeout'));
    }, timeoutMs);
    let settled = false;
    const finish = (fn: () => void) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      if (socket) socket.close();
      else opening.abort();
      fn();
    };
    // Closing the session makes the service drop the queued decode nobody will read.
    const onAbort = () => finish(() => reject(abortedError()));
    signal?.addEventListener('abort', onAbort, { once: true });
    backend
      .connect('/ws/transcribe', formatQuery(audio), {
        open: (s) => {
          socket = s;
          const config = configFor(options);
          if (config) s.send(config);
          for (const chunk of chunksOf(audio)) s.send(chunk);
          s.send(FLUSH_COMMAND);
        },
        message: (_s, text) => {
          const message = JSON.parse(text) as Record<string, unknown>;
          if (message.type === 'transcript') finish(() => resolve(message as unknown as TranscriptMessage));
          else if (message.type === 'error') finish(() => reject(restError(message)));
        },
        error: (_s, error) => finish(() => reject(connectionError(backend, error))),
        close: (_s, code, reason) => finish(() => reject(new UpstreamError(`${backend.name} backend closed the connection (${code} ${reason})`, 'unreachable'))),
      }, opening.signal)
      .catch((error: Error) => finish(() => reject(connectionError(backend, error))));
  });
}

/** How a REST request waits out a restart (STT_PROXY_HOLD_MS): see BackendPool's memberWaiter. */
export interface RequestHold {
  wait: WaitForMember;
  ms: number;
  surface: string;
  signal?: AbortSignal;
}

/**
 * One request's hold across failures: a member that cannot be reached is marked down and the
 * request waits for the next ready one, until the hold that began at the first failure ends;
 * past it, the request's own error, saying how long it was held.
 */
export class HeldRetry {
  private until: number | undefined;
  constructor(private readonly hold: RequestHold) {}

  /** The request made progress since its last failure: the next outage has a hold of its own. */
  restart(): void {
    this.until = undefined;
  }

  async next(error: UpstreamError, failed: Backend): Promise<Backend> {
    failed.markDown(error.message);
    this.until ??= performance.now() + this.hold.ms;
    try {
      return await this.hold.wait({ avoid: failed, until: this.until, surface: this.hold.surface, signal: this.hold.signal, request: true });
    } catch (e) {
      if (this.hold.signal?.aborted) throw abortedError();
      if (e instanceof HoldExpired) throw new UpstreamError(`${error.message}; held ${this.hold.ms} ms for a member to come back (STT_PROXY_HOLD_MS), none did`, 'unreachable');
      throw e;
    }
  }
}

/**
 * Tries the chosen backend, then the other one if the first was overloaded or at capacity. One
 * that cannot be reached is marked down and, with `hold`, the request waits for a member to be
 * ready (another at once, or the same one back from a restart) and is sent again, until the hold
 * ends; without it, or when the member refused the proxy itself (MemberRefused), the other one is
 * tried once.
 */
export async function withFailover<T>(choose: (avoid?: Backend) => Backend, run: (backend: Backend) => Promise<T>, first = choose(), hold?: RequestHold): Promise<{ result: T; backend: Backend }> {
  let backend = first;
  let triedOther = false;
  const held = hold && new HeldRetry(hold);
  for (;;) {
    try {
      return { result: await run(backend), backend };
    } catch (error) {
      if (!(error instanceof UpstreamError) || (error.code !== 'unreachable' && error.code !== 'overloaded' && error.code !== 'at_capacity')) throw error;
      if (error.memberGone && held) {
        backend = await held.next(error, backend);
        continue;
      }
      if (error.code === 'unreachable') backend.markDown(error.message);
      const second = choose(backend);
      if (triedOther || second === backend) throw error;
      triedOther = true;
      backend = second;
    }
  }
}

export function transcribeOnce(
  choose: (avoid?: Backend) => Backend,
  audio: UpstreamAudio,
  options: OneShotOptions,
  first?: Backend,
  hold?: RequestHold,
): Promise<{ result: TranscriptMessage; backend: Backend }> {
  return withFailover(choose, (backend) => transcribeVia(backend, audio, options), first, hold);
}
