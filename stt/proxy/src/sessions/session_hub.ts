import { isSessionEvent } from '@vtuber-stt/core';
import { connectionId } from './webhook.js';

/** A committed turn of a named session: its final, and a key unique to it (for an idempotent webhook). */
export type CommittedTurn = (session: string, key: string, final: Record<string, unknown>) => void;

/** Whoever hears a named session: a listener's socket. */
export interface Listener {
  send(message: object): void;
}

/** What a speaking connection does with its session: every message it is sent goes through `publish`. */
export interface Speaker {
  publish(message: Record<string, unknown>): void;
  /** The connection is gone: listeners hear the session is no longer live. */
  release(): void;
}

/** The turn in progress kept for a listener that joins late: at most this many of its events. */
const IN_PROGRESS_LIMIT = 64;

const isAnswer = (m: Record<string, unknown>) => (m.type === 'transcript' && m.final !== false) || m.type === 'error';

/** One named session: its speaker (at most one), its listeners, and the turn in progress. */
class NamedSession {
  speaking = false;
  muted = false;
  /** The VTuber speaks (its last `assistant` event was a start). */
  assistantSpeaking = false;
  /** Sends a control message on the speaking connection (the proxy's own: a remote mute, the VTuber's speech). */
  command?: (text: string) => void;
  readonly listeners = new Set<Listener>();
  /** Events of the seqs not answered yet, in order, for a listener that joins mid-turn. */
  private inProgress: Record<string, unknown>[] = [];

  constructor(readonly name: string) {}

  get idle(): boolean {
    return !this.speaking && this.listeners.size === 0;
  }

  /** Labelled with the session, to every listener; remembered while its turn is open. */
  publish(message: Record<string, unknown>): void {
    if (message.type === 'mute') this.muted = message.muted === true;
    if (message.type === 'assistant') this.assistantSpeaking = message.state === 'start';
    const event = { ...message, session: this.name };
    this.remember(event);
    for (const l of this.listeners) l.send(event);
  }

  /** What a listener is given on joining: the session's state, then the turn in progress. */
  greet(listener: Listener): void {
    listener.send(this.state());
    for (const e of this.inProgress) listener.send(e);
  }

  state(): object {
    return { type: 'session', session: this.name, live: this.speaking, muted: this.muted, assistant_speaking: this.assistantSpeaking };
  }

  /** Live state changed: said to every listener; a session that stops being live has no turn in progress. */
  setSpeaking(speaking: boolean): void {
    this.speaking = speaking;
    if (!speaking) {
      this.inProgress = [];
      this.muted = false;
      this.assistantSpeaking = false;
      this.command = undefined;
    }
    for (const l of this.listeners) l.send(this.state());
  }

  private remember(event: Record<string, unknown>): void {
    const seq = event.seq;
    if (typeof seq !== 'number') return;
    if (isAnswer(event) || (event.type === 'turn' && event.event === 'end')) {
      // Answered: nothing of this seq (or before) is in progress any more.
      this.inProgress = this.inProgress.filter((e) => (e.seq as number) > seq);
      return;
    }
    // Only the latest hypothesis of a seq matters to a listener that joins now.
    if (event.type === 'partial' || event.type === 'transcript') this.inProgress = this.inProgress.filter((e) => !(e.seq === seq && e.type === event.type));
    this.inProgress.push(event);
    if (this.inProgress.length > IN_PROGRESS_LIMIT) this.inProgress.shift();
  }
}

/**
 * The proxy's named sessions (`?session=main` on a transcription connection): each has at most
 * one speaker, and any number of listeners (`/ws/events`) who hear its events as the speaker does,
 * labelled with the session's name. It sits on the client's side of the relay, so what listeners
 * hear is already renumbered and on the speaker's timeline, and a backend failover changes
 * nothing for them. A session exists while it has a speaker or a listener.
 */
export class SessionHub {
  private readonly sessions = new Map<string, NamedSession>();

  /** `committed`: told of each final with text of a named session (the webhook). */
  constructor(private readonly committed?: CommittedTurn) {}

  /**
   * Claims `name` for a speaking connection; a string (why not) when another connection speaks on
   * it. `command` sends a control message on that connection (a remote mute).
   */
  speak(name: string, command: (text: string) => void): Speaker | string {
    const session = this.get(name);
    if (session.speaking) return `session "${name}" already has a speaking connection: one microphone per session (use another name for another one)`;
    session.setSpeaking(true);
    session.command = command;
    let released = false;
    const connection = connectionId();
    return {
      publish: (message) => {
        if (released || !isSessionEvent(message)) return;
        session.publish(message);
        if (message.type === 'transcript' && message.final !== false && message.text) this.committed?.(name, `${name}-${connection}-${String(message.seq)}`, message);
      },
      release: () => {
        if (released) return;
        released = true;
        session.setSpeaking(false);
        this.forgetIfIdle(session);
      },
    };
  }

  /** Subscribes `listener` to `names`; returns the unsubscribe. */
  listen(names: string[], listener: Listener): () => void {
    const joined = names.map((n) => this.get(n));
    for (const s of joined) {
      s.listeners.add(listener);
      s.greet(listener);
    }
    return () => {
      for (const s of joined) {
        s.listeners.delete(listener);
        this.forgetIfIdle(s);
      }
    };
  }

  /** Names and state of every session, for the status page and the panel. */
  list(): { name: string; live: boolean; muted: boolean; listeners: number }[] {
    return [...this.sessions.values()].map((s) => ({ name: s.name, live: s.speaking, muted: s.muted, listeners: s.listeners.size }));
  }

  /** Mutes or unmutes a live session (its speaking connection is told); false when `name` has none. */
  mute(name: string, muted: boolean): boolean {
    const session = this.sessions.get(name);
    if (!session?.command) return false;
    // Already so: nothing to send (a held key repeating its POST costs nothing upstream).
    if (session.muted !== muted) session.command(JSON.stringify({ type: muted ? 'mute' : 'unmute' }));
    return true;
  }

  /**
   * The VTuber's speech (`assistant_speech`) or reference audio (`assistant_audio`) for a live
   * session, sent on its speaking connection as the proxy's own command; false when `name` has none.
   */
  assistant(name: string, message: object): boolean {
    const session = this.sessions.get(name);
    if (!session?.command) return false;
    session.command(JSON.stringify(message));
    return true;
  }

  private get(name: string): NamedSession {
    let s = this.sessions.get(name);
    if (!s) this.sessions.set(name, (s = new NamedSession(name)));
    return s;
  }

  private forgetIfIdle(s: NamedSession): void {
    if (s.idle && this.sessions.get(s.name) === s) this.sessions.delete(s.name);
  }
}
