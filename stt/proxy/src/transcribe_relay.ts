import type { Logger } from 'pino';
import { assistantAudioMessageSchema, closeCodeOf, RESUMED_SESSION_HEADER, DEFAULT_FORMAT, describeIssues, FLUSH_COMMAND, formatFromQuery, ResilientTranscriber, type Endpoint, type PcmFormat, type RetryPolicy, type TurnMode } from '@vtuber-stt/core';
import type { Backend } from './backend.js';
import type { WaitForMember } from './backend_pool.js';

export interface RelayOptions {
  /** Picks the backend for the first connection and for each failover (`avoid` just failed). */
  choose: (avoid?: Backend) => Backend;
  /** The client's query string (audio format, turns), passed on to every backend connection. */
  query: string;
  /** Bytes of not-yet-answered audio kept for replay. */
  maxReplayBytes: number;
  /** STT_RELAY_SECRET: presented when a session a member admitted is reconnected, so load does not refuse it. */
  relaySecret?: string;
  /** Largest frame passed on; a larger one is answered with an error and not sent (as the services do). */
  maxFrameBytes?: number;
  /** Connection attempts per failover before waiting utterances are answered with an error (with `hold`: refusals only). */
  attempts?: number;
  /**
   * Holds the session through a restart (STT_PROXY_HOLD_MS): each connection waits for a ready
   * member, and what the client sent meanwhile is replayed to it, in order; waiting utterances
   * are answered with an error only once the outage has lasted `ms`.
   */
  hold?: { wait: WaitForMember; ms: number; surface: string };
  /** The waits between attempts and rounds (STT_PROXY_RETRY_MS, STT_PROXY_RETRY_ROUND_MS); the policy's defaults where absent. */
  retry?: Partial<RetryPolicy>;
  /** A session that owes nothing and got no frame for this long releases its backend connection (STT_PROXY_UPSTREAM_IDLE_MS). */
  idleMs?: number;
  logger?: Logger;
  onReply?: (backend: Backend, latencyMs: number) => void;
  /** The client was refused at_capacity: every member tried refused the session. */
  onRefused?: () => void;
}

/** Why a server-mode session is closed when its unanswered audio could not be kept (see below). */
const NO_BACKEND = 'no transcription service is reachable; reconnect';
const AT_CAPACITY = 'every transcription backend is at capacity (or still loading); reconnect later';

/**
 * What the client's query string asks for. A malformed one is not judged here: the backend
 * refuses it with its own reason, which reaches the client.
 */
function sessionOf(query: string): { format: PcmFormat; turns: TurnMode } {
  const params = Object.fromEntries(new URLSearchParams(query.replace(/^\?/, '')));
  let format = DEFAULT_FORMAT;
  try {
    format = formatFromQuery(params);
  } catch {
    // The backend closes the session with 1008 and the reason.
  }
  return { format, turns: params.turns === 'server' ? 'server' : 'flush' };
}

/**
 * A client's `heard` is the relay's to honour, not the backend's: the relay asks its backends for
 * `heard` itself (its own replay depends on it), so the field is taken out of a config message on
 * its way up and handed to `set`. Anything else passes as it is.
 */
function takeHeard(text: string, set: (heard: boolean) => void): string {
  if (!text.startsWith('{') || !text.includes('"heard"')) return text;
  try {
    const m = JSON.parse(text) as Record<string, unknown>;
    if (m.type !== 'config' || typeof m.heard !== 'boolean') return text;
    set(m.heard);
    delete m.heard;
    return JSON.stringify(m);
  } catch {
    return text;
  }
}

/** A text frame that is an `assistant_audio` message, parsed (its schema judges it further); else undefined. */
function referenceAudio(text: string): object | undefined {
  if (!text.startsWith('{') || !text.includes('"assistant_audio"')) return undefined;
  try {
    const m: unknown = JSON.parse(text);
    return m && typeof m === 'object' && (m as { type?: unknown }).type === 'assistant_audio' ? m : undefined;
  } catch {
    return undefined;
  }
}

/** Whoever drives a relayed session: a client's socket, or an adapter speaking another protocol to it. */
export interface RelayClient {
  /** A message of the /ws/transcribe protocol, renumbered onto the client's view. */
  send(message: Record<string, unknown>): void;
  /** Ends the client's session (a backend's permanent refusal, or audio that could not be kept). */
  close(code: number, reason: string): void;
}

/** What the client side feeds into a relayed session. */
export interface RelaySession {
  /** A binary frame of the client's audio; false when it was refused (the client was told why) and is not part of the session. */
  audio(frame: Buffer): boolean;
  /** A text frame: `<flush>` or a JSON control message. */
  text(text: string): void;
  /**
   * The proxy's own control message for this session (a remote mute, the VTuber's speech): kept
   * across failovers, answered to nobody. Reference audio (`assistant_audio`) is neither kept nor answered.
   */
  command(text: string): void;
  /** Resolves once every flush and utterance so far has its answer. */
  idle(): Promise<void>;
  /** Who ends utterances now, and the audio held for replay. */
  readonly turns: TurnMode;
  close(): void;
}

/**
 * One client's /ws/transcribe session through the proxy: a ResilientTranscriber towards the
 * backends (failover with replay, replies renumbered, server-mode offsets kept on the client's
 * timeline), with the proxy's own checks in front and the serving backend's name on every
 * transcript. A backend's permanent refusal ends the client's session with the same close code.
 */
export function relaySession(client: RelayClient, options: RelayOptions): RelaySession {
  const toClient = (message: Record<string, unknown>) => client.send(message);
  const byUrl = new Map<string, Backend>();
  const endpoint = (backend: Backend): Endpoint => {
    const link = backend.endpoint('/ws/transcribe', options.query);
    byUrl.set(link.url, backend);
    // Admitted once: its next connections (after an idle release or a failover) resume it.
    const secret = options.relaySecret;
    return secret && upstream.admitted ? { ...link, headers: { ...link.headers, [RESUMED_SESSION_HEADER]: secret } } : link;
  };
  let detach: (() => void) | undefined;
  /** The client asked for `heard` messages (a config message with `heard`). */
  let clientHeard = false;
  /** The reason (with its retry hint) of the last member that refused the session at capacity. */
  let atCapacity: string | undefined;
  const owed = {
    get waiting() {
      return upstream.waiting;
    },
  };
  /** Ends a wait for a member when the client goes. */
  const gone = new AbortController();
  const hold = options.hold;
  // No backend connection before the client's first frame, none while it is idle (see idleMs).
  const upstream: ResilientTranscriber = new ResilientTranscriber({
    ...options.retry,
    ...sessionOf(options.query),
    next: async (failed, until) => {
      detach?.();
      detach = undefined;
      const avoid = failed ? byUrl.get(failed.url) : undefined;
      const backend = hold ? await hold.wait({ avoid, until, surface: hold.surface, signal: gone.signal }) : options.choose(avoid);
      // Within what the member admits (its /ready's max_connections, less the slots kept for
      // REST): past it the session waits along the retry policy instead of being refused there.
      if (!backend.admitsSession()) {
        throw new Error(`every transcription backend is at capacity (${backend.name}: ${backend.sessionSlots} session connections of ${backend.capacity} in use)`);
      }
      // The member carries this session's load (what it still owes) while it holds a connection there.
      detach = backend.attach(owed);
      return endpoint(backend);
    },
    maxReplayBytes: options.maxReplayBytes,
    // Held: a member down or restarting is waited for up to the hold; the attempts count refusals (at capacity).
    attempts: options.attempts ?? 3,
    holdMs: hold?.ms,
    idleMs: options.idleMs,
    onReply: (message, ep, latencyMs) => {
      message.backend = ep.name;
      const backend = byUrl.get(ep.url);
      if (message.type === 'transcript' && backend) options.onReply?.(backend, latencyMs);
      toClient(message);
    },
    onMessage: (message) => {
      if (message.type === 'transcript') message.backend = upstream.endpointName;
      // The relay asks its backends for `heard` itself; its client gets them only if it asked too.
      if (message.type === 'heard' && !clientHeard) return;
      toClient(message);
    },
    onConnectionChange: ({ type, endpoint: ep, detail, pending, code, reason, droppedMs }) => {
      if (type === 'connected') return;
      // No connection is held now (let go while idle, lost, or out of attempts): the session is
      // no member's load until the next attempt chooses one afresh.
      detach?.();
      detach = undefined;
      if (type === 'released') return;
      if (type === 'lost') atCapacity = /\((?:1013 )?(at capacity: .*)\)$/.exec(detail ?? '')?.[1];
      if (type === 'exhausted' && atCapacity) {
        // Every member tried is past its capacity: the client is refused as a service refuses it, hint included.
        options.logger?.info({ backend: ep.name }, `every transcription backend refused the session: ${atCapacity}`);
        options.onRefused?.();
        toClient({ type: 'error', code: 'at_capacity', error: atCapacity });
        upstream.close();
        client.close(closeCodeOf('at_capacity')!, atCapacity);
        return;
      }
      if (type === 'exhausted') {
        options.logger?.warn({ backend: ep.name, pending, dropped_ms: droppedMs, code }, `transcription backends out of attempts: ${detail}`);
        // Server mode: the waiting utterances were just answered with engine_unavailable, but the
        // audio past them is gone with nothing said about it: speech the backend never reported
        // would be lost silently. The client still has it (an utterance was open, and a client
        // keeps everything from its settled point once it has seen an utterance start), so the
        // session is closed with 1013 and a resilient client reconnects and replays from there. The errors still go first: a plain client (the
        // panel) gets the one answer each seq is owed; a client that treats engine_unavailable
        // as "retry" has already dropped this connection for a fresh one when the close comes;
        // one that takes the error as the answer replays only what it has not settled, on seqs
        // after the ones answered, so no seq is answered twice. With no utterance open nothing
        // is dropped (the transcriber holds the audio for the next backend) and the session
        // stays open. Flush mode keeps its contract: errors for the waiting flushes, session open.
        if (droppedMs && upstream.turns === 'server') {
          upstream.close();
          client.close(closeCodeOf('unreachable')!, code === closeCodeOf('busy') ? AT_CAPACITY : NO_BACKEND);
        }
        return;
      }
      if (type === 'refused') {
        // The client's request is what was refused, not the backend: it stays up, and the client hears why.
        options.logger?.info({ backend: ep.name, code }, `transcription backend refused the session: ${reason}`);
        client.close(code!, reason || `transcription backend refused the session (${code})`);
        return;
      }
      // 1013 (busy, or its model loading, or no member with room here) is a member that is up
      // and says "not now": it is not marked down (REST and other sessions may still be served
      // there); the session backs off and this line comes once per try.
      if (code !== closeCodeOf('busy')) byUrl.get(ep.url)?.markDown(detail ?? type);
      options.logger?.warn({ backend: ep.name, pending, code }, `transcription backend ${type}: ${detail}`);
    },
  });

  /**
   * The VTuber's reference audio goes to the backend connection open now and nowhere else: it
   * matters only as it plays. Judged here, so the backend never answers it (its answers to
   * control messages are matched by order) and a refusal reaches whoever sent it.
   */
  const reference = (text: string, message: object, refuse: (error: Record<string, unknown>) => void): void => {
    const checked = assistantAudioMessageSchema.safeParse(message);
    if (!checked.success) return refuse({ type: 'error', code: 'bad_message', error: describeIssues(checked.error) });
    upstream.ephemeral(text);
  };

  return {
    audio(data) {
      const max = options.maxFrameBytes;
      if (max !== undefined && data.length > max) {
        toClient({ type: 'error', code: 'frame_too_large', error: `frame of ${data.length} bytes exceeds the ${max}-byte limit (STT_PROXY_MAX_FRAME_BYTES); send smaller chunks` });
        return false;
      }
      // Checked here too, so a bad frame is not replayed (and reported twice) after a failover;
      // against the format the backend acknowledged last.
      const frameBytes = upstream.frameBytes;
      if (data.length % frameBytes !== 0) {
        toClient({ type: 'error', code: 'bad_audio', error: `frame of ${data.length} bytes is not a whole number of ${frameBytes}-byte samples` });
        return false;
      }
      const refused = upstream.sendAudio(data);
      if (refused) toClient({ type: 'error', code: 'buffer_full', error: `proxy ${refused} (STT_PROXY_MAX_REPLAY_BYTES)` });
      return !refused;
    },
    text(raw) {
      const text = takeHeard(raw, (heard) => (clientHeard = heard));
      const audio = referenceAudio(text);
      if (audio) return reference(text, audio, toClient);
      if (text === FLUSH_COMMAND) upstream.flush();
      else if (!upstream.control(text)) toClient({ type: 'error', code: 'engine_unavailable', error: 'transcription backend is reconnecting; send the message again' });
    },
    command(text) {
      // The proxy's own: checked where it came in (a listener's message, a POST), not again here.
      if (referenceAudio(text)) upstream.ephemeral(text);
      else upstream.control(text, true);
    },
    idle: () => upstream.idle(),
    get turns() {
      return upstream.turns;
    },
    close: () => {
      detach?.();
      gone.abort();
      upstream.close();
    },
  };
}
