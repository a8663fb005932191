import type { ControlEntry } from './replay_log.js';

export interface OwedReply {
  /** The control message answered; undefined for the settled config a new connection starts with. */
  entry?: ControlEntry;
  /** Sent again on a replacement connection after the caller already had its answer. */
  replayed: boolean;
}

/**
 * One connection's control messages awaiting their reply. The service answers each text message
 * at once and in order, with an ack (`config`, `reset`) or a `bad_message` error, so replies are
 * matched by position; a fresh list per connection means an answer lost with a dead connection
 * can never be mistaken for a later one.
 */
export class ControlReplies {
  private owed: OwedReply[] = [];

  reset(): void {
    this.owed = [];
  }

  expect(entry: ControlEntry | undefined, replayed: boolean): void {
    this.owed.push({ entry, replayed });
  }

  /** What `message` answers, when it is the reply to a control message. */
  match(message: Record<string, unknown>): OwedReply | undefined {
    if (this.owed.length === 0 || typeof message.seq === 'number') return undefined;
    const isReply = message.type === 'config' || message.type === 'reset' || (message.type === 'error' && message.code === 'bad_message');
    return isReply ? this.owed.shift() : undefined;
  }
}
