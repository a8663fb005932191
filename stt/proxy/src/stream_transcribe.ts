import type WebSocket from 'ws';
import { bytesPerFrame, FLUSH_COMMAND, type TranscriptMessage } from '@vtuber-stt/core';
import type { Backend } from './backend.js';
import type { UpstreamAudio } from './decode/audio_input.js';
import { chunksOf, configFor, connectionError, DEFAULT_TIMEOUT_MS, formatQuery, HeldRetry, restError, withFailover, type OneShotOptions, type RequestHold } from './rest_transcribe.js';
import { UpstreamError } from './upstream_error.js';

/** Seconds of audio per frame: small enough that a refused frame costs little to resend. */
const STREAM_CHUNK_SECONDS = 2;
/** How long to wait before resending a frame the service refused because its buffer was full. */
const RETRY_MS = 100;
/** A frame still refused after this long means the buffer is not draining (settings, not load): give up. */
const MAX_RETRY_MS = 30_000;
/** A config message with no fields changes nothing; its ack tells that every earlier frame was taken or refused. */
const PROBE = JSON.stringify({ type: 'config' });

export interface StreamHandle {
  /** Resolves once the session is open, so a caller can commit to a streaming response only then. */
  opened: Promise<void>;
  /** Resolves after the last final; rejects with the service's reason. */
  done: Promise<void>;
  /** The caller went away: stop at once. */
  abort(): void;
}

/**
 * A whole file through a backend's `/ws/transcribe?turns=server`: the service cuts it into
 * utterances with its own VAD and sends each final as soon as it is decoded, so the first text
 * arrives after the first utterance, not after the whole file. Frames are sent one at a time,
 * each followed by an empty config whose ack says the frame was taken; one refused with
 * `buffer_full` (VAD still catching up) is sent again shortly, so a long file never overruns the
 * service. The last frame is followed by `<flush>`, whose final (`ended_by: "flush"`) ends the stream.
 */
function streamVia(backend: Backend, audio: UpstreamAudio, options: OneShotOptions, onFinal: (t: TranscriptMessage) => void): StreamHandle {
  let socket: WebSocket | undefined;
  /** Abandons the connection while it is still being opened. */
  const opening = new AbortController();
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  let opened!: () => void;
  const openedPromise = new Promise<void>((resolve) => (opened = resolve));
  let abort = () => {};
  const done = new Promise<void>((resolve, reject) => {
    let settled = false;
    let timer: NodeJS.Timeout | undefined;
    // Frame acknowledgements: each probe's ack, or the refusal that precedes it.
    let refused = false;
    let ack: (() => void) | undefined;
    const quiet = () => {
      clearTimeout(timer);
      timer = setTimeout(() => finish(new UpstreamError(`${backend.name} backend sent nothing for ${timeoutMs} ms`, 'timeout')), timeoutMs);
    };
    const finish = (error?: Error) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      if (socket) socket.close();
      else opening.abort();
      // Release the sender waiting for an ack, so nothing (the audio included) stays held.
      const waiting = ack;
      ack = undefined;
      waiting?.();
      if (error) reject(error);
      else resolve();
    };
    abort = () => finish(new UpstreamError('the client went away', 'aborted'));
    const sendFrame = async (s: WebSocket, frame: Buffer) => {
      for (let waited = 0; ; waited += RETRY_MS) {
        if (waited > MAX_RETRY_MS) throw new UpstreamError(`the transcription service refused audio for ${MAX_RETRY_MS / 1000} s because its buffer stayed full (STT_MAX_BUFFER_SECONDS on the service)`, 'overloaded');
        refused = false;
        const acked = new Promise<void>((r) => (ack = r));
        s.send(frame);
        s.send(PROBE);
        await acked;
        if (settled) return;
        if (!refused) return;
        await new Promise((r) => setTimeout(r, RETRY_MS));
      }
    };
    /** Sends the request over the open socket: its options, then the audio frame by frame, then `<flush>`. */
    const stream = async (s: WebSocket) => {
      socket = s;
      quiet();
      try {
        // The request's options first: a refusal (a bad language, say) ends it before anything was streamed.
        const config = configFor(options);
        if (config) await new Promise<void>((r) => {
          ack = r;
          s.send(config);
        });
        if (settled) return;
        opened();
        for (const frame of chunksOf(audio, frameBytes(audio))) {
          await sendFrame(s, frame);
          if (settled) return;
        }
        s.send(FLUSH_COMMAND);
      } catch (error) {
        finish(error as Error);
      }
    };
    backend
      .connect('/ws/transcribe', formatQuery(audio, { turns: 'server' }), {
        open: (s) => void stream(s),
        message: (_s, text) => {
          quiet();
          const message = JSON.parse(text) as Record<string, unknown>;
          if (message.type === 'config' && ack) {
            const a = ack;
            ack = undefined;
            a();
          } else if (message.type === 'error') {
            if (message.code === 'buffer_full' && ack) refused = true;
            else finish(restError(message));
          } else if (message.type === 'transcript' && message.final !== false) {
            const t = message as unknown as TranscriptMessage;
            onFinal(t);
            if (t.ended_by === 'flush') finish();
          }
        },
        error: (_s, error) => finish(connectionError(backend, error)),
        close: (_s, code, reason) => finish(new UpstreamError(`${backend.name} backend closed the connection (${code} ${reason})`, 'unreachable')),
      }, opening.signal)
      .catch((error: Error) => finish(connectionError(backend, error)));
  });
  done.catch(() => undefined);
  return { opened: openedPromise, done, abort: () => abort() };
}

/** Bytes of STREAM_CHUNK_SECONDS of this audio. */
const frameBytes = (audio: UpstreamAudio) => audio.format.sampleRate * STREAM_CHUNK_SECONDS * bytesPerFrame(audio.format);

/** The audio from `ms` on (whole sample frames). */
function audioFrom(audio: UpstreamAudio, ms: number): UpstreamAudio {
  const frame = bytesPerFrame(audio.format);
  const at = Math.min(audio.pcm.length, Math.floor((ms * audio.format.sampleRate) / 1000) * frame);
  return { ...audio, pcm: audio.pcm.subarray(at) };
}

/**
 * Opens a streaming session on the chosen backend, or on the other one when the first cannot be
 * reached; resolves once one is open (nothing has been sent to the client yet, so a failure here
 * can still be an HTTP error). With `hold`, a stream whose member dies goes on: it waits for a
 * member (STT_PROXY_HOLD_MS) and sends it the file from the end of the last final it had, so the
 * utterance it was in is heard again and every final still comes, once, in order.
 */
export async function openStream(
  choose: (avoid?: Backend) => Backend,
  audio: UpstreamAudio,
  options: OneShotOptions,
  onFinal: (t: TranscriptMessage) => void,
  first?: Backend,
  hold?: RequestHold,
): Promise<{ result: StreamHandle; backend: Backend }> {
  /** Where the audio no final has answered begins (ms into the file). */
  let answeredMs = 0;
  /** A final came since the last member died: the next outage has a hold of its own. */
  let progressed = false;
  const begin = (backend: Backend): StreamHandle => {
    const base = answeredMs;
    return streamVia(backend, audioFrom(audio, base), options, (t) => {
      if (typeof t.end_ms === 'number') answeredMs = Math.max(answeredMs, base + t.end_ms);
      progressed = true;
      onFinal(t);
    });
  };
  const opened = await withFailover(
    choose,
    async (backend) => {
      const handle = begin(backend);
      await Promise.race([handle.opened, handle.done]);
      return handle;
    },
    first,
    hold,
  );
  if (!hold) return opened;
  let current = opened.result;
  let backend = opened.backend;
  // The caller's abort() also ends a wait for a member, not only the connection in use.
  const stopped = new AbortController();
  const held = new HeldRetry({ ...hold, signal: hold.signal ? AbortSignal.any([hold.signal, stopped.signal]) : stopped.signal });
  const done = (async () => {
    for (;;) {
      try {
        return await current.done;
      } catch (error) {
        if (stopped.signal.aborted || !(error instanceof UpstreamError) || !error.memberGone) throw error;
        if (progressed) held.restart();
        progressed = false;
        backend = await held.next(error, backend);
        if (stopped.signal.aborted) throw error;
        current = begin(backend);
      }
    }
  })();
  done.catch(() => undefined);
  const result: StreamHandle = {
    opened: opened.result.opened,
    done,
    abort: () => {
      stopped.abort();
      current.abort();
    },
  };
  return { result, backend: opened.backend };
}
