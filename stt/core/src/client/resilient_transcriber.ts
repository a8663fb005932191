import WebSocket from 'ws';
import type { PcmFormat } from '../audio/format.js';
import { FLUSH_COMMAND, isFinalAnswer, type TurnMode } from '../protocol/messages.js';
import { closeCodeOf, isErrorCode } from '../protocol/errors.js';
import { isPermanentClose } from '../protocol/close_codes.js';
import { ControlReplies, type OwedReply } from './control_replies.js';
import { HandshakeRefused, openSocket } from './open_socket.js';
import { ReplayLog } from './replay_log.js';
import { Backoff, retryPolicy, type RetryPolicy } from './retry_policy.js';
import { SeqLedger } from './seq_ledger.js';
import { StreamFormat } from './stream_format.js';
import { shiftTimes } from './timeline.js';

export { closeReason, isPermanentClose } from '../protocol/close_codes.js';
export { HandshakeRefused } from './open_socket.js';
export { Backoff, DEFAULT_RETRY_POLICY, retryPolicy, type RetryPolicy } from './retry_policy.js';

const isRetryClose = (code: number | undefined) => code !== undefined && !isPermanentClose(code);

export interface Endpoint {
  /** Name reported with replies (e.g. "cpu"), if any. */
  name?: string;
  url: string;
  /** Sent with the handshake (an API key). */
  headers?: Record<string, string>;
}

export interface ConnectionEvent {
  /**
   * connected; lost (it dropped, reconnecting); failed (an attempt did not connect); refused (the
   * service closed with a permanent code, e.g. 1008 for a bad query string: nothing is retried,
   * the session is over and `code`/`reason` say why); exhausted (out of `attempts` for now: see
   * `droppedMs`; connecting is tried again a little later); released (nothing was owed and no
   * input came for `idleMs`: the connection was let go, the next input opens a new one).
   */
  type: 'connected' | 'lost' | 'failed' | 'refused' | 'exhausted' | 'released';
  endpoint: Endpoint;
  detail?: string;
  /** Utterances (or flushes) waiting for their final. */
  pending: number;
  /**
   * refused and lost: the close code (lost: 1013 is a busy or loading service, backed off from);
   * failed and exhausted: 1013 when the attempt (the last one) was refused as busy or loading.
   */
  code?: number;
  reason?: string;
  /**
   * exhausted: ms of the dropped audio that none of the error answers accounts for (audio past
   * the decided end of the answered utterances and past the last answered flush). The caller
   * never hears about that audio otherwise: a caller relaying for someone who keeps their own
   * copy (the proxy) must tell them to send it again. 0 when nothing was dropped: in server mode
   * with no utterance open the audio is held for the next connection instead.
   */
  droppedMs?: number;
}

/**
 * Where the link to the service is, after `ws`'s readyState: idle (no connection, none wanted
 * until the next input), connecting (an attempt under way), open (a connection adopted and
 * brought up to date), backoff (waiting before the next attempt), closed (the session is over).
 */
export type LinkState = 'idle' | 'connecting' | 'open' | 'backoff' | 'closed';

/** The retry waits (see RetryPolicy) may be given here; what is not given is the policy's default. */
export interface ResilientOptions extends Partial<RetryPolicy> {
  /**
   * The endpoint to (re)connect to; `failed` is the one that just failed, if any. It may throw
   * to say that no endpoint can take the session now (e.g. every member at its connection
   * limit): that counts as an attempt refused with 1013, waited out along the retry policy.
   * It may also return a promise (waiting for a service to come back): `until` is when the
   * outage's hold ends (performance.now() time; see holdMs), Infinity without one. A rejection
   * past `until` ends the round as running out of attempts does.
   */
  next: (failed: Endpoint | undefined, until: number) => Endpoint | Promise<Endpoint>;
  /** Unanswered audio kept for replay. Past it `sendAudio` refuses the frame and says so. */
  maxReplayBytes: number;
  /**
   * Who ends utterances. `flush` (default): the caller, with `flush()`. `server`: the service
   * (the endpoint's query string should say `turns=server`; if it does not, a config message
   * asking for it starts every connection). A config ack naming `turns` switches too.
   */
  turns?: TurnMode;
  /** The format of the frames (as the endpoint's query string declares it); 16 kHz mono s16le by default. */
  format?: PcmFormat;
  /**
   * Connection attempts per outage before every waiting utterance is answered with an error.
   * Server mode with no utterance open: nothing is answered and the audio is held (see
   * giveUp); flushes and control messages then wait for the next service. Undefined: keep trying
   * forever (with backoff), holding the audio.
   */
  attempts?: number;
  /**
   * How long (ms) an outage may last, from the first attempt that had to be made until a
   * connection is served again, before every waiting utterance is answered with an error (as
   * when out of `attempts`). Meanwhile everything sent is held and replayed, in order, on the
   * connection that comes back. With it, `attempts` counts only refusals (no endpoint with
   * room, `next` throwing): a service that is down or restarting is waited for up to the hold.
   */
  holdMs?: number;
  /**
   * A connection is held only while it is needed: none is opened before the first input (audio,
   * flush or control message), and once nothing is owed and no input has come for this long
   * (ms) it is closed (1000) until the next input, which reopens one with the acknowledged
   * settings replayed. Server mode: an utterance still open after this long without input is
   * ended as by a flush first (see releaseIfIdle). Undefined: kept until close().
   */
  idleMs?: number;
  /**
   * Error codes that mean "not now" rather than "never" (e.g. engine_unavailable from a proxy whose
   * backends are restarting): the answer stays pending and everything unanswered is sent again on
   * a fresh connection after a pause, in order.
   */
  retryCodes?: readonly string[];
  /**
   * The answer for one seq, on the caller's numbering: a final transcript (`final` absent or true)
   * or an error carrying its seq. Exactly one per flush (flush mode) or per utterance (server
   * mode), in order. Server mode: offsets are on the caller's clock (ms of audio it sent).
   */
  onReply: (message: Record<string, unknown>, endpoint: Endpoint, latencyMs: number) => void;
  /**
   * Everything else: config and reset acks, errors about single frames, and (renumbered, on the
   * caller's clock, each once) `speech_start`, `speech_end`, early `final: false` transcripts
   * and `partial` texts (only before their seq's final, their `stable` never shrinking).
   */
  onMessage?: (message: Record<string, unknown>) => void;
  onConnectionChange?: (event: ConnectionEvent) => void;
}

/** Server mode: audio kept while no utterance is open, enough for a start the service has not reported yet. */
const IDLE_KEEP_MS = 2000;
/** An open connection not closed within this long is being served, not refused. */
const SERVING_AFTER_MS = 1000;
const NO_SERVICE = 'no transcription service is reachable';
const AT_CAPACITY = 'every transcription service is at capacity or still loading (closed 1013)';

/**
 * A /ws/transcribe connection that does not lose utterances. It keeps everything sent since the
 * last settled point (see ReplayLog); when the connection drops it reconnects (to the same or
 * another endpoint), replays it, and maps what the new connection says onto the caller's view:
 * seqs renumbered, offsets moved onto the caller's clock, events the caller already has dropped,
 * so the caller sees exactly one answer per flush (flush mode) or utterance (server mode), in
 * order. The proxy uses it towards its backends, the microphone client towards the proxy.
 */
export class ResilientTranscriber {
  private endpoint?: Endpoint;
  private socket?: WebSocket;
  /** Changed only by `to()`, which owns the retry timer. */
  private state: LinkState = 'idle';
  /** Bumped when the link is let go (idle) or closed: an attempt under way from before is dropped. */
  private generation = 0;
  private readonly backoff: Backoff;
  private idleTimer?: NodeJS.Timeout;
  private lastInputAt = 0;
  private refusal?: { code: number; reason: string };
  private mode: TurnMode;
  private readonly format: StreamFormat;
  private readonly log = new ReplayLog();
  private readonly ledger = new SeqLedger();
  private readonly replies = new ControlReplies();
  /** Per open seq, the stable prefix of the last partial the caller has. */
  private readonly stableSent = new Map<number, string>();
  /** The caller's clock (ms) at the current connection's offset 0. */
  private origin = 0;
  /** While replaying, errors about single frames were already reported once. */
  private replaying = false;
  /** Failovers since the last answer: endpoints that accept and then drop us must not loop. */
  private failovers = 0;
  /** The last connection was refused with 1013 (busy, loading): what an exhausted session is told. */
  private lastRefused = false;
  /** The backoff state's timer. */
  private retryTimer?: NodeJS.Timeout;
  /** The current connection is really served (it answered, or stayed open past SERVING_AFTER_MS). */
  private serving = false;
  /** Some connection of this session was served: a service admitted it (see admitted). */
  private servedOnce = false;
  private servingTimer?: NodeJS.Timeout;
  private idleWaiters: (() => void)[] = [];
  /**
   * Server mode: how far a service has listened with no utterance open (its `heard` messages, on
   * the caller's clock). Audio sent is not audio heard: a client streaming faster than the
   * service listens is ahead of it, and what lies between was never judged silence.
   */
  private heardMs = -Infinity;
  /**
   * `assistant` events a replacement connection repeats for the VTuber's speech it was given
   * again (the caller had them from the lost one): not passed on.
   */
  private assistantRepeats = 0;
  /** The last seq whose `interruption` the caller has (a replacement connection may say it again). */
  private interrupted = 0;
  /** When the outage now under way began (performance.now()): the start of its hold (see holdMs). */
  private outageSince?: number;

  constructor(private readonly options: ResilientOptions) {
    this.mode = options.turns ?? 'flush';
    this.format = new StreamFormat(options.format);
    this.backoff = new Backoff(retryPolicy(options));
  }

  get link(): LinkState {
    return this.state;
  }

  private get closed(): boolean {
    return this.state === 'closed';
  }

  get endpointName(): string | undefined {
    return this.endpoint?.name;
  }

  /** Who ends utterances on this session now. */
  get turns(): TurnMode {
    return this.mode;
  }

  /** Bytes of one sample frame in the format the service acknowledged last. */
  get frameBytes(): number {
    return this.format.frameBytes;
  }

  /**
   * A service admitted this session once (a connection of it was served): whoever reconnects it
   * later resumes a session let in before, which admission by load does not turn away.
   */
  get admitted(): boolean {
    return this.servedOnce;
  }

  /** The service refused the session for good (close code and reason), if it did. */
  get refused(): { code: number; reason: string } | undefined {
    return this.refusal;
  }

  /** Answers owed: flushes (flush mode), or open utterances and flushes (server mode). */
  get waiting(): number {
    return this.ledger.openCount + (this.mode === 'server' ? this.ledger.uncovered(this.log.unansweredFlushes()).length : 0);
  }

  get bufferedBytes(): number {
    return this.log.bytes;
  }

  /** Appends audio; returns an error text when the replay bound refuses it (nothing is kept then). */
  sendAudio(frame: Buffer): string | undefined {
    if (this.closed) return undefined;
    this.input();
    // Only audio a service has been sent can be judged silence: while no connection is live
    // (reconnecting, or holding after running out of attempts) nobody has heard what arrives,
    // and trimming it would drop speech without a word to anyone.
    if (this.mode === 'server' && this.live() && this.serving && this.settledNow()) this.log.settle(Math.min(this.log.clock, this.heardMs) - IDLE_KEEP_MS);
    if (this.log.bytes + frame.length > this.options.maxReplayBytes) {
      return `replay buffer of ${this.options.maxReplayBytes} bytes is full: this frame was not added; ${this.mode === 'server' ? 'end the utterance sooner' : 'flush more often'}`;
    }
    this.log.addAudio(frame, this.format.msOf(frame.length));
    if (this.live()) this.socket!.send(frame);
    return undefined;
  }

  /**
   * Sends `<flush>`. Flush mode: its answer comes through onReply with the seq returned. Server
   * mode: it ends the utterance in progress (or answers an empty final); the seq returned is the
   * one it is expected to end, which a start the service has not reported yet can change.
   */
  flush(): number {
    this.input();
    return this.sendFlush();
  }

  private sendFlush(): number {
    const seq = this.mode === 'flush' ? this.ledger.flushSent() : this.ledger.guessFlush();
    this.log.addFlush(seq);
    if (this.live()) this.socket!.send(FLUSH_COMMAND);
    return seq;
  }

  /**
   * A JSON control message (config, reset). Acknowledged settings are sent again on a replacement
   * connection; a message not yet answered when a connection drops is sent again and answered
   * once; one sent while no connection is open opens one (or waits for the one being retried).
   * False once the session is closed (nothing is kept then). `own`: the owner's command, not the
   * caller's (a relay's remote mute): kept and replayed the same, its answer passed to nobody.
   */
  control(text: string, own = false): boolean {
    if (this.closed) return false;
    this.input();
    const entry = this.log.addControl(text, own);
    if (this.mode === 'flush' && entry.message?.type === 'reset') this.log.dropAudioSinceLastFlush();
    if (this.live()) {
      this.replies.expect(entry, false);
      this.socket!.send(text);
    }
    return true;
  }

  /**
   * A message that matters only now (the VTuber's reference audio, `assistant_audio`): sent on
   * the open connection, never kept, replayed or answered; dropped while none is open. False
   * when it was dropped.
   */
  ephemeral(text: string): boolean {
    if (!this.live()) return false;
    this.socket!.send(text);
    return true;
  }

  /** Resolves once every flush sent so far (and in server mode every utterance begun) has its answer. */
  idle(): Promise<void> {
    if (this.settledNow() || this.closed) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  close(): void {
    this.to('closed');
    clearTimeout(this.idleTimer);
    this.socket?.close(1000, 'client closed the session');
    this.wakeIdle();
  }

  /**
   * Every input: the link is opened if there is none (nor one being opened or waited for), and
   * the idle clock starts again. The timer is not moved per frame: when it fires it looks at
   * when the last input came.
   */
  private input(): void {
    this.lastInputAt = performance.now();
    if (this.options.idleMs !== undefined && !this.idleTimer) this.armIdle(this.options.idleMs);
    if (this.state === 'idle') void this.connect();
  }

  private armIdle(ms: number): void {
    this.idleTimer = setTimeout(() => this.releaseIfIdle(), ms);
    this.idleTimer.unref?.();
  }

  /**
   * Lets the link go when nothing is owed (no flush, utterance or control reply waiting) and no
   * input came for idleMs: a silent or frozen client then holds no service connection. The
   * log stays: the next input's connection is given the settled settings and whatever was not
   * settled yet, as after a failover.
   */
  private releaseIfIdle(): void {
    this.idleTimer = undefined;
    const idleMs = this.options.idleMs!;
    if (this.closed) return;
    const quiet = performance.now() - this.lastInputAt;
    if (quiet < idleMs) return this.armIdle(idleMs - quiet);
    if (!this.settledNow() || this.log.unansweredControls().length > 0) {
      // Server mode: an utterance left open by a client that stopped sending (asleep, frozen)
      // cannot end by silence, since the service hears none: it is ended as a flush would end
      // it, its final goes to the caller, and then nothing is owed.
      if (this.mode === 'server' && this.live() && this.log.flushesWaiting === 0 && this.ledger.openCount > 0) this.sendFlush();
      return this.armIdle(idleMs);
    }
    if (this.state === 'idle') return;
    const socket = this.socket;
    this.socket = undefined;
    this.to('idle');
    this.failovers = 0;
    this.backoff.reset();
    socket?.close(1000, `idle for ${Math.round(quiet)} ms; the next input reconnects`);
    this.options.onConnectionChange?.({ type: 'released', endpoint: this.endpoint ?? { url: '' }, pending: 0 });
  }

  /** The connection is really served: the waits start from the first step again. */
  private nowServing(): void {
    this.serving = true;
    this.servedOnce = true;
    this.outageSince = undefined;
    this.backoff.reset();
  }

  /**
   * The one transition of the link. It owns the retry timer: entering backoff schedules `then`
   * after `ms`, and any transition cancels a pending one. Entering idle or closed drops an
   * attempt under way (its socket, if it opens, is closed at once) and the serving check.
   */
  private to(next: LinkState, backoff?: { ms: number; then: () => void; unref?: boolean }): void {
    clearTimeout(this.retryTimer);
    this.retryTimer = undefined;
    if (next === 'idle' || next === 'closed') {
      this.generation++;
      clearTimeout(this.servingTimer);
    }
    this.state = next;
    if (next === 'backoff' && backoff) {
      this.retryTimer = setTimeout(() => {
        this.retryTimer = undefined;
        backoff.then();
      }, backoff.ms);
      if (backoff.unref) this.retryTimer.unref();
    }
  }

  private live(): boolean {
    return this.state === 'open' && this.socket?.readyState === WebSocket.OPEN;
  }

  private settledNow(): boolean {
    return this.ledger.openCount === 0 && this.log.flushesWaiting === 0;
  }

  private wakeIdle(): void {
    for (const w of this.idleWaiters.splice(0)) w();
  }

  private fromServer(text: string): void {
    let message: Record<string, unknown>;
    try {
      message = JSON.parse(text) as Record<string, unknown>;
    } catch {
      this.nowServing();
      return;
    }
    // A "try again" refusal (busy, not_ready) comes as an error before its close: the close is what counts.
    if (message.type === 'error' && message.seq === undefined && isErrorCode(message.code) && isRetryClose(closeCodeOf(message.code))) return;
    // A "not now" answer is served, but the wait before asking again keeps growing.
    if (message.type === 'error' && this.options.retryCodes?.includes(String(message.code))) this.serving = true;
    else this.nowServing();
    if (isFinalAnswer(message)) return this.onFinal(message);
    if (typeof message.seq === 'number') return this.onEvent(message);
    if (message.type === 'heard') return this.onHeard(message);
    if (message.type === 'assistant' && this.assistantRepeats > 0) {
      this.assistantRepeats--;
      return;
    }
    // State changes at a point of the audio (no seq): on the caller's clock too.
    if ((message.type === 'assistant' || message.type === 'mute') && this.mode === 'server') shiftTimes(message, this.origin);
    const owed = this.replies.match(message);
    if (owed) return this.onControlReply(owed, message);
    if (this.replaying && message.type === 'error') return;
    this.options.onMessage?.(message);
  }

  /** The one answer for a seq. */
  private onFinal(message: Record<string, unknown>): void {
    if (message.type === 'error' && this.options.retryCodes?.includes(String(message.code))) {
      this.retrySoon(String(message.error));
      return;
    }
    // Flush mode answers flushes in the order sent, whatever the service numbered them.
    const seq = this.mode === 'flush' ? this.log.unansweredFlushes()[0]?.seq : this.ledger.toCaller(message.seq as number);
    if (seq === undefined || !this.ledger.finished(seq)) return; // nothing owed, or a replay repeating an answer the caller has
    this.failovers = 0;
    this.replaying = false;
    this.stableSent.delete(seq);
    message.seq = seq;
    let settledAt: number | undefined;
    let since: number | undefined;
    if (this.mode === 'flush') {
      const flush = this.log.answerOldestFlush();
      settledAt = flush?.at;
      since = flush?.sentAt;
    } else {
      shiftTimes(message, this.origin);
      const decision = this.ledger.takeDecision(seq);
      const oldest = this.log.unansweredFlushes()[0];
      // A flush ends the utterance in progress or answers an empty one; an error may stand for either.
      const answersFlush = message.ended_by === 'flush' || (message.type === 'error' && oldest !== undefined && oldest.seq <= seq);
      const flush = answersFlush ? this.log.answerOldestFlush() : undefined;
      settledAt = flush?.at ?? decision?.atMs;
      since = decision?.receivedAt ?? flush?.sentAt;
    }
    if (settledAt !== undefined) this.log.settle(settledAt);
    const latency = since !== undefined ? performance.now() - since : Number(message.latency_ms) || 0;
    if (this.settledNow()) this.wakeIdle();
    this.options.onReply(message, this.endpoint!, latency);
  }

  /** speech_start, speech_end, final:false, partials, turn events: renumbered, on the caller's clock, each once. */
  private onEvent(message: Record<string, unknown>): void {
    const seq = this.ledger.toCaller(message.seq as number);
    message.seq = seq;
    if (this.mode === 'server') shiftTimes(message, this.origin);
    if (message.type === 'speech_start' && !this.ledger.started(seq)) return;
    if (message.type === 'speech_end' && !this.ledger.endedAt(seq, message.decided_ms as number | undefined)) return;
    if (message.type === 'transcript' && seq <= this.ledger.answered) return;
    if (message.type === 'partial' && !this.keepsStable(seq, message)) return;
    if (message.type === 'turn' && !this.ledger.turnEvent(seq, message.event)) return;
    if (message.type === 'interruption') {
      if (seq <= this.interrupted) return;
      this.interrupted = seq;
    }
    this.options.onMessage?.(message);
  }

  /** How far the service has listened, on the caller's clock; passed on (a relay's client may keep audio too). */
  private onHeard(message: Record<string, unknown>): void {
    shiftTimes(message, this.origin);
    if (typeof message.at_ms === 'number') this.heardMs = Math.max(this.heardMs, message.at_ms);
    this.options.onMessage?.(message);
  }

  /**
   * A partial the caller may have: its seq not answered yet, and its stable prefix extending the
   * one the caller holds. A replacement connection re-hears the utterance and starts its
   * agreement from nothing: while its words still lead to what the caller holds as stable, that
   * is kept as the stable part; a partial that contradicts it is not passed on (the final settles it).
   */
  private keepsStable(seq: number, message: Record<string, unknown>): boolean {
    if (seq <= this.ledger.answered) return false;
    const held = this.stableSent.get(seq) ?? '';
    const stable = typeof message.stable === 'string' ? message.stable : '';
    const text = typeof message.text === 'string' ? message.text : '';
    if (!stable.startsWith(held)) {
      if (!held.startsWith(stable) || !text.startsWith(held)) return false;
      message.stable = held;
    }
    this.stableSent.set(seq, message.stable as string);
    return true;
  }

  private onControlReply({ entry, replayed }: OwedReply, message: Record<string, unknown>): void {
    if (replayed || !entry) return; // the caller had this answer from an earlier connection
    if (message.type === 'error') {
      // Refused: never part of the settings a replacement connection is given.
      this.log.remove(entry);
    } else {
      entry.acked = true;
      if (message.type === 'config') {
        this.format.acknowledged(message);
        if (message.turns === 'flush' || message.turns === 'server') this.mode = message.turns;
      }
      if (message.type === 'reset' && this.mode === 'flush') this.log.remove(entry);
      this.log.foldAckedControls();
    }
    // The owner's own commands (a relay's remote mute) are answered to nobody: the caller never asked.
    if (!entry.own) this.options.onMessage?.(message);
  }

  private async connect(failed?: Endpoint): Promise<void> {
    if (this.closed) return;
    const generation = this.generation;
    // False once the link was let go (idle) or the session closed while this attempt was under way.
    const current = () => generation === this.generation && !this.closed;
    const limit = this.options.attempts;
    const exhausted = limit !== undefined && this.failovers > 4;
    this.outageSince ??= performance.now();
    const until = this.options.holdMs === undefined ? Infinity : this.outageSince + this.options.holdMs;
    let last = failed;
    /** Attempts that count towards `attempts`: all of them, or with a hold only refusals. */
    let counted = 0;
    for (let attempt = 0; !exhausted && (limit === undefined || counted < limit) && (attempt === 0 || performance.now() < until) && current(); attempt++) {
      if (this.options.holdMs === undefined) counted++;
      this.to('connecting');
      let endpoint: Endpoint;
      try {
        endpoint = await this.options.next(attempt === 0 ? failed : undefined, until);
        if (!current()) return;
      } catch (error) {
        if (!current()) return;
        // Waited for a service until the hold ran out: the round ends (giveUp, below).
        if (performance.now() >= until) break;
        // No endpoint has room: refused before asking, waited out like a service's 1013.
        if (this.options.holdMs !== undefined) counted++;
        this.lastRefused = true;
        const busy = closeCodeOf('busy')!;
        this.options.onConnectionChange?.({ type: 'failed', endpoint: last ?? { url: '' }, code: busy, detail: (error as Error).message, pending: this.waiting });
        await new Promise<void>((r) => this.to('backoff', { ms: this.backoff.next(), then: r }));
        continue;
      }
      last = endpoint;
      try {
        await openSocket(endpoint.url, {
          open: (socket) => (current() ? this.adopt(socket, endpoint) : socket.close(1000, 'connection no longer needed')),
          message: (socket, text) => {
            if (this.socket === socket) this.fromServer(text);
          },
          close: (socket, code, reason) => {
            if (this.socket === socket && !this.closed) this.onClose(endpoint, code, reason);
          },
        }, { headers: endpoint.headers });
        return;
      } catch (error) {
        if (!current()) return;
        // Refused at the handshake (a wrong key): another attempt would be refused the same way.
        if (error instanceof HandshakeRefused && error.permanent) return this.onClose(endpoint, closeCodeOf('unauthorized')!, error.message);
        this.lastRefused = false;
        this.options.onConnectionChange?.({ type: 'failed', endpoint, detail: (error as Error).message, pending: this.waiting });
        await new Promise<void>((r) => this.to('backoff', { ms: this.backoff.next(), then: r }));
      }
    }
    if (current()) this.giveUp(last ?? this.endpoint ?? { url: '' });
  }

  /** A connection just opened becomes the session's: it is brought to where the last one was. */
  private adopt(socket: WebSocket, endpoint: Endpoint): void {
    if (this.closed) {
      socket.close(1000, 'client closed the session');
      return;
    }
    this.endpoint = endpoint;
    this.socket = socket;
    // A service that is loading (or refusing) accepts the handshake and closes at once (1013):
    // audio sent meanwhile was never heard, so nothing is trimmed until this connection has
    // answered something or stayed open a while.
    this.serving = false;
    clearTimeout(this.servingTimer);
    this.servingTimer = setTimeout(() => {
      if (this.socket === socket && socket.readyState === WebSocket.OPEN) this.nowServing();
    }, SERVING_AFTER_MS);
    this.servingTimer.unref?.();
    this.options.onConnectionChange?.({ type: 'connected', endpoint, pending: this.waiting });
    this.replay(socket, endpoint);
    this.to('open');
  }

  /**
   * Out of attempts for now. Server mode with no utterance open: hold everything and try again
   * later. Nothing is owed an answer that an error could give (no seq has begun), and nobody can
   * say whether the held audio has speech in it: no service heard it, or the one that did died
   * before reporting a start. Dropping it would lose that speech without a word; and when this
   * transcriber is a relay's (the proxy's), the client behind it may have let its own copy go
   * already: its link to the relay stayed up, so it took the idle audio as heard.
   * Waiting flushes and control messages are answered by the service that comes back; past
   * `maxReplayBytes` sendAudio refuses frames and says so. Otherwise, see abandon.
   */
  private giveUp(endpoint: Endpoint): void {
    const hold = this.mode === 'server' && this.ledger.openCount === 0;
    const heldMs = hold ? this.log.audioMsAfter(-Infinity) : 0;
    const waited = this.outageSince === undefined ? '' : ` for ${Math.round(performance.now() - this.outageSince)} ms`;
    const what = this.lastRefused ? `every service is at capacity or still loading${waited};` : `no service reachable${waited};`;
    // The next round's outage has a hold of its own.
    this.outageSince = undefined;
    this.socket = undefined;
    this.failovers = 0;
    const droppedMs = hold ? 0 : this.abandon(waited);
    if (this.closed) return; // an answer above made the caller close the session
    // Nothing held and nothing owed: no connection is wanted until the next input. Otherwise the
    // next round waits at least the policy's exhaustedDelayMs, and meanwhile input only joins
    // the log: a client streaming into a session nobody can take does not make it try per frame.
    if (this.log.entries.length === 0) this.to('idle');
    else this.to('backoff', { ms: this.backoff.exhausted(), then: () => void this.connect(), unref: true });
    this.options.onConnectionChange?.({
      type: 'exhausted',
      endpoint,
      pending: this.waiting,
      droppedMs,
      code: this.lastRefused ? closeCodeOf('busy') : undefined,
      detail: hold
        ? `${what} holding ${Math.round(heldMs)} ms of audio for the next one`
        : `${what} waiting answers given as errors${droppedMs > 0 ? `, ${Math.round(droppedMs)} ms of audio past them dropped` : ''}`,
    });
  }

  /**
   * Every waiting seq gets its answer, as an error, and the log is dropped; later audio starts
   * afresh. Returns the ms of dropped audio that no error accounts for: past the decided end
   * of the answered utterances and past the last answered flush (server mode), or past the last
   * answered flush (flush mode).
   */
  private abandon(waited: string): number {
    const flushes = this.log.unansweredFlushes();
    const sentAt = new Map(flushes.map((f) => [f.seq, f.sentAt]));
    const what = this.mode === 'flush' ? 'flush' : 'utterance';
    const covered = Math.max(-Infinity, ...flushes.map((f) => f.at), ...(this.mode === 'server' ? this.ledger.decisionPoints() : []));
    const droppedMs = this.log.audioMsAfter(covered);
    // A started turn's end is at its decided end when known, else where the audio received ends.
    const turnEnds = new Map(this.ledger.abandonTurns().map((seq) => [seq, this.ledger.takeDecision(seq)?.atMs ?? this.log.clock]));
    const seqs = this.ledger.abandon(flushes);
    this.stableSent.clear();
    for (const control of this.log.unansweredControls()) {
      this.options.onMessage?.({ type: 'error', code: 'engine_unavailable', error: `not connected: control message dropped (${control.text.slice(0, 60)})` });
    }
    this.log.abandon();
    for (const seq of seqs) {
      const since = sentAt.get(seq);
      this.options.onReply(
        { type: 'error', code: 'engine_unavailable', seq, error: `${this.lastRefused ? AT_CAPACITY : NO_SERVICE}${waited}; the audio of this ${what} was not transcribed` },
        this.endpoint ?? { url: '' },
        since !== undefined ? performance.now() - since : 0,
      );
      const at = turnEnds.get(seq);
      if (at !== undefined) this.options.onMessage?.({ type: 'turn', event: 'end', seq, at_ms: Math.round(at), text: '', error: 'engine_unavailable' });
    }
    this.wakeIdle();
    return droppedMs;
  }

  private onClose(endpoint: Endpoint, code: number, reason: string): void {
    this.socket = undefined;
    if (isPermanentClose(code)) {
      // The request itself is refused: another connection would be refused the same way.
      this.to('closed');
      this.refusal = { code, reason };
      this.options.onConnectionChange?.({ type: 'refused', endpoint, code, reason, detail: `refused (${code}${reason ? ` ${reason}` : ''})`, pending: this.waiting });
      this.wakeIdle();
      return;
    }
    this.failovers++;
    this.options.onConnectionChange?.({ type: 'lost', endpoint, code, detail: `connection closed (${code}${reason ? ` ${reason}` : ''})`, pending: this.waiting });
    // A service that dropped us mid-session is failed over at once; a refusal (1013: busy, or its
    // model loading) or a service that keeps accepting and dropping us waits, longer each time:
    // asking again at once would be refused again, in a tight loop.
    const refusal = code === closeCodeOf('busy');
    this.lastRefused = refusal;
    const delay = refusal || this.failovers > 1 ? this.backoff.next() : 0;
    // Input is only logged meanwhile; the replay sends it.
    this.to('backoff', { ms: delay, then: () => void this.connect(endpoint) });
  }

  private retrySoon(reason: string): void {
    const socket = this.socket;
    const endpoint = this.endpoint;
    if (!socket || !endpoint) return;
    // Nothing more from this connection counts: all it owes is replayed on the next one.
    this.socket = undefined;
    socket.close(1000, 'retrying on a fresh connection');
    // Input is only logged meanwhile; the replay sends it.
    this.to('backoff', { ms: this.backoff.next(), then: () => void this.connect() });
    this.options.onConnectionChange?.({ type: 'lost', endpoint, detail: `server could not transcribe now (${reason}); retrying`, pending: this.waiting });
  }

  /**
   * A new connection is brought to where the lost one was: the settled settings, then everything
   * since the settled point, in order. Acknowledged control messages are sent again with their
   * replies dropped; unanswered ones are answered to the caller once.
   */
  private replay(socket: WebSocket, endpoint: Endpoint): void {
    this.replies.reset();
    this.ledger.reconnected();
    this.origin = this.log.origin;
    const settled = { ...this.log.settledConfig };
    if (this.mode === 'server' && settled.turns === undefined && !asksServerTurns(endpoint.url)) settled.turns = 'server';
    // Server mode: the service says how far it has listened, so only audio it heard is forgotten.
    if (this.mode === 'server' && settled.heard === undefined) settled.heard = true;
    if (Object.keys(settled).length > 0) {
      this.replies.expect(undefined, true);
      socket.send(JSON.stringify({ ...settled, type: 'config' }));
    }
    // The VTuber still speaking (replayed like mute): the new service knows what it says.
    const speaking = this.log.settledAssistant;
    this.assistantRepeats = speaking ? 1 : 0;
    if (speaking) {
      this.replies.expect(undefined, true);
      socket.send(speaking);
    }
    for (const e of this.log.entries) if (e.kind === 'control' && e.acked && e.message?.type === 'assistant_speech') this.assistantRepeats++;
    for (const e of this.log.entries) {
      if (e.kind === 'audio') socket.send(e.data);
      else if (e.kind === 'flush') socket.send(FLUSH_COMMAND);
      else {
        this.replies.expect(e, e.acked);
        socket.send(e.text);
      }
    }
    this.replaying = this.log.hasAudio;
  }
}

function asksServerTurns(url: string): boolean {
  try {
    return new URL(url).searchParams.get('turns') === 'server';
  } catch {
    return false;
  }
}
