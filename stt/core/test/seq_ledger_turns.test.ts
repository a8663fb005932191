import { describe, expect, it } from 'vitest';
import { SeqLedger } from '../src/client/seq_ledger.js';

describe('turn events across a replay (SeqLedger.turnEvent)', () => {
  it('passes start and end once per seq, eager_end and resumed only before the final, after a reconnect too', () => {
    const ledger = new SeqLedger();
    expect(ledger.started(1)).toBe(true);
    expect(ledger.turnEvent(1, 'start')).toBe(true);
    expect(ledger.turnEvent(1, 'eager_end')).toBe(true);
    // The service dies; the replacement re-hears seq 1 from the replay and says it all again.
    ledger.reconnected();
    expect(ledger.turnEvent(ledger.toCaller(1), 'start')).toBe(false);
    expect(ledger.turnEvent(ledger.toCaller(1), 'resumed')).toBe(true);
    expect(ledger.finished(ledger.toCaller(1))).toBe(true);
    expect(ledger.turnEvent(1, 'eager_end')).toBe(false);
    expect(ledger.turnEvent(1, 'end')).toBe(true);
    expect(ledger.turnEvent(1, 'end')).toBe(false);
    // The next turn is its own.
    expect(ledger.turnEvent(2, 'start')).toBe(true);
    expect(ledger.turnEvent(2, 'eager_end')).toBe(true);
  });
});
