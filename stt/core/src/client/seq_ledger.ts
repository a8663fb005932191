import type { FlushEntry } from './replay_log.js';

/**
 * The caller's utterance numbers. Each connection numbers its utterances from 1; the first of a
 * replacement connection is the caller's first one not yet answered, so a connection's seq maps
 * onto the caller's by an offset. The ledger also remembers which events the caller already has,
 * so that what a replay repeats is not delivered twice.
 */
export class SeqLedger {
  private offset = 0;
  /** Highest seq whose final the caller has; finals come in order. */
  answered = 0;
  /** Highest seq the caller saw begin (speech_start, or in flush mode the flush itself). */
  opened = 0;
  /** Highest seq whose speech_end the caller has. */
  ended = 0;
  /** Highest seq whose `turn` start, and whose `turn` end, the caller has. */
  private turnOpened = 0;
  private turnClosed = 0;
  /** Server mode: the seq the last flush was expected to end. */
  private lastFlushGuess = 0;
  /** Server mode, per open seq: where its end was decided (caller's clock) and when that arrived. */
  private readonly decided = new Map<number, { atMs: number; receivedAt: number }>();

  /** A new connection: its seq 1 is the caller's first seq without a final. */
  reconnected(): void {
    this.offset = this.answered;
  }

  toCaller(seq: number): number {
    return seq + this.offset;
  }

  /** Flush mode: a flush opens and ends the next seq at once. */
  flushSent(): number {
    this.opened++;
    this.ended = this.opened;
    this.lastFlushGuess = this.opened;
    return this.opened;
  }

  /**
   * Server mode: the seq a flush sent now should end: the utterance in progress, or an empty
   * one after everything known (the service may have heard a start not yet reported).
   */
  guessFlush(): number {
    const inProgress = this.opened > this.ended && this.lastFlushGuess < this.opened;
    this.lastFlushGuess = inProgress ? this.opened : Math.max(this.opened, this.lastFlushGuess, this.answered) + 1;
    return this.lastFlushGuess;
  }

  /** speech_start: true when the caller does not have it yet. */
  started(seq: number): boolean {
    if (seq <= this.opened) return false;
    this.opened = seq;
    return true;
  }

  /** speech_end: true when the caller does not have it yet. The latest decision point is kept either way. */
  endedAt(seq: number, decidedMs: number | undefined): boolean {
    if (seq <= this.answered) return false;
    const known = this.decided.get(seq);
    if (typeof decidedMs === 'number') this.decided.set(seq, { atMs: decidedMs, receivedAt: known?.receivedAt ?? performance.now() });
    if (seq <= this.ended) return false;
    this.ended = seq;
    this.opened = Math.max(this.opened, seq);
    return true;
  }

  /**
   * A `turn` event: true when the caller may have it. start and end once per seq (a replay
   * repeats them); eager_end and resumed only before the seq's final (a replay may repeat a
   * pause's eager end: a listener that prepared an answer for it keeps it).
   */
  turnEvent(seq: number, event: unknown): boolean {
    if (event === 'start') {
      if (seq <= this.turnOpened || seq <= this.answered) return false;
      this.turnOpened = seq;
      return true;
    }
    if (event === 'end') {
      if (seq <= this.turnClosed) return false;
      this.turnClosed = seq;
      return true;
    }
    return seq > this.answered;
  }

  /**
   * No service is left: the seqs whose `turn` start the caller has and whose end it does not, to
   * be ended by the caller's own `end` (a listener never waits on a started turn); from here on
   * their ends count as sent. Call before abandon.
   */
  abandonTurns(): number[] {
    const seqs: number[] = [];
    for (let s = Math.max(this.turnClosed, this.answered) + 1; s <= this.turnOpened; s++) seqs.push(s);
    this.turnClosed = Math.max(this.turnClosed, this.turnOpened);
    return seqs;
  }

  /** A final: true when it is the caller's next one (a replay's repeat of an answered seq is not). */
  finished(seq: number): boolean {
    if (seq <= this.answered) return false;
    this.answered = seq;
    this.opened = Math.max(this.opened, seq);
    this.ended = Math.max(this.ended, seq);
    return true;
  }

  /** Where and when `seq`'s end was decided, if its speech_end came; forgotten once read. */
  takeDecision(seq: number): { atMs: number; receivedAt: number } | undefined {
    const d = this.decided.get(seq);
    this.decided.delete(seq);
    return d;
  }

  /** Where the ends of open seqs were decided (caller's clock), for those whose speech_end came. */
  decisionPoints(): number[] {
    return [...this.decided].filter(([seq]) => seq > this.answered).map(([, d]) => d.atMs);
  }

  /** How many seqs are begun and not answered. */
  get openCount(): number {
    return this.opened - this.answered;
  }

  /** Seqs begun and not answered. */
  openSeqs(): number[] {
    const seqs: number[] = [];
    for (let s = this.answered + 1; s <= this.opened; s++) seqs.push(s);
    return seqs;
  }

  /** Waiting flushes not covered by an open seq: each will be answered under a seq of its own. */
  uncovered(flushes: FlushEntry[]): FlushEntry[] {
    return flushes.filter((f) => f.seq <= this.answered || f.seq > this.opened);
  }

  /**
   * No service is left: the seqs owed an answer (open ones, then one per uncovered flush) are
   * returned to be answered with errors, and count as answered from here on.
   */
  abandon(flushes: FlushEntry[]): number[] {
    const seqs = this.openSeqs();
    let next = this.opened;
    for (const _ of this.uncovered(flushes)) seqs.push(++next);
    this.answered = this.opened = this.ended = this.lastFlushGuess = next;
    this.decided.clear();
    return seqs;
  }
}
