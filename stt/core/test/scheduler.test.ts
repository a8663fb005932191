import { describe, expect, it } from 'vitest';
import { AbortedError, InferenceQueue, QueueFullError } from '../src/index.js';

/** A job that records when it ran and finishes when told to. */
function gate(log: string[], name: string) {
  let open!: () => void;
  const done = new Promise<void>((r) => (open = r));
  return { run: async () => { log.push(name); await done; return name; }, open };
}

describe('the one scheduler', () => {
  it('runs one job at a time, finals before speculative before background, each class in order', async () => {
    const q = new InferenceQueue(8, 1, 4);
    const log: string[] = [];
    const first = gate(log, 'running');
    const running = q.schedule(first.run, { priority: 'background' });
    const jobs = [
      q.schedule(async () => (log.push('bg'), 'bg'), { priority: 'background' }),
      q.schedule(async () => (log.push('spec1'), 'spec1'), { priority: 'speculative' }),
      q.schedule(async () => (log.push('final1'), 'final1'), { priority: 'final' }),
      q.schedule(async () => (log.push('spec2'), 'spec2'), { priority: 'speculative' }),
      q.schedule(async () => (log.push('final2'), 'final2')),
    ];
    expect(running.started).toBe(true);
    expect(jobs.every((j) => !j.started)).toBe(true);
    expect(q.depth).toBe(6);
    first.open();
    await Promise.all([running.result, ...jobs.map((j) => j.result)]);
    expect(log).toEqual(['running', 'final1', 'final2', 'spec1', 'spec2', 'bg']);
  });

  it('keeps a place taken before a job could be queued: a final that first waited for its language check is not overtaken by later finals', async () => {
    const q = new InferenceQueue(8);
    const log: string[] = [];
    const gated = gate(log, 'language check of utterance 1');
    const check = { open: gated.open, result: q.schedule(gated.run, { priority: 'background' }).result };
    const place = q.takePlace(); // utterance 1 ends while its check runs
    const later = [q.schedule(async () => (log.push('final 2'), 2)), q.schedule(async () => (log.push('final 3'), 3))];
    check.open();
    // As the final does: it queues once the check's answer has reached it.
    await check.result;
    const first = q.schedule(async () => (log.push('final 1'), 1), { place });
    await Promise.all([first.result, ...later.map((j) => j.result)]);
    expect(log).toEqual(['language check of utterance 1', 'final 1', 'final 2', 'final 3']);
  });

  it('drops a waiting job that is cancelled, and promotes one that became a final', async () => {
    const q = new InferenceQueue(8);
    const log: string[] = [];
    const first = gate(log, 'running');
    void q.push(first.run);
    const stale = q.schedule(async () => (log.push('stale'), 1), { priority: 'speculative' });
    const promoted = q.schedule(async () => (log.push('promoted'), 2), { priority: 'speculative' });
    const final = q.schedule(async () => (log.push('final'), 3));
    expect(stale.cancel()).toBe(true);
    await expect(stale.result).rejects.toBeInstanceOf(AbortedError);
    promoted.promote('final'); // it keeps its place among finals by arrival
    expect(q.finalsWaiting).toBe(2);
    first.open();
    await Promise.all([promoted.result, final.result]);
    expect(log).toEqual(['running', 'promoted', 'final']);
    expect(promoted.cancel()).toBe(false); // it ran: nothing to cancel
    expect(q.finalsWaiting).toBe(0);
    expect(q.shouldShed()).toBe(false);
  });

  it('bounds finals and optional work separately: speculation never makes a final overloaded', async () => {
    const q = new InferenceQueue(2, 1, 1);
    const log: string[] = [];
    const first = gate(log, 'running');
    void q.push(first.run);
    const spec = q.schedule(async () => 1, { priority: 'speculative' });
    await expect(q.schedule(async () => 2, { priority: 'background' }).result).rejects.toBeInstanceOf(QueueFullError);
    const finals = [q.push(async () => 'a'), q.push(async () => 'b')];
    await expect(q.push(async () => 'c')).rejects.toBeInstanceOf(QueueFullError);
    first.open();
    expect(await Promise.all(finals)).toEqual(['a', 'b']);
    expect(await spec.result).toBe(1);
  });

  it('promotes within the finals\' bound: a promotion past it leaves the job where it is, and the final answers overloaded at once', async () => {
    const q = new InferenceQueue(2, 1, 2);
    const log: string[] = [];
    const first = gate(log, 'running');
    void q.push(first.run);
    const spec = q.schedule(async () => (log.push('spec'), 'spec'), { priority: 'speculative' });
    const finals = [q.push(async () => (log.push('a'), 'a')), q.push(async () => (log.push('b'), 'b'))];
    expect(q.shouldShed()).toBe(true); // finals wait: optional work is shed, not queued
    expect(spec.promote('final')).toBe(false);
    expect(q.finalsWaiting).toBe(2);
    expect(q.depth).toBe(4);
    // What the utterance then does: its final is scheduled as a final, and refused as one.
    const own = q.push(async () => 'own');
    await expect(own).rejects.toBeInstanceOf(QueueFullError);
    await expect(own).rejects.toThrow('(2 waiting, STT_MAX_QUEUE)');
    expect(spec.cancel()).toBe(true);
    await expect(spec.result).rejects.toBeInstanceOf(AbortedError);
    first.open();
    expect(await Promise.all(finals)).toEqual(['a', 'b']);
    expect(log).toEqual(['running', 'a', 'b']);
    expect(q.shouldShed()).toBe(false);
  });

  it('never promotes a job that is not in line: refused by its own bound, or cancelled', async () => {
    const q = new InferenceQueue(4, 1, 1);
    const log: string[] = [];
    const first = gate(log, 'running');
    void q.push(first.run);
    const waiting = q.schedule(async () => 1, { priority: 'speculative' });
    const refused = q.schedule(async () => 2, { priority: 'speculative' });
    await expect(refused.result).rejects.toThrow('(1 waiting, STT_MAX_QUEUE)');
    expect(refused.promote('final')).toBe(false);
    expect(waiting.cancel()).toBe(true);
    await expect(waiting.result).rejects.toBeInstanceOf(AbortedError);
    expect(waiting.promote('final')).toBe(false);
    expect(q.depth).toBe(1);
    // Within the bound it moves up; a started one has nothing left to move.
    const later = q.schedule(async () => 3, { priority: 'background' });
    expect(later.promote('speculative')).toBe(true);
    expect(later.promote('final')).toBe(true);
    expect(q.finalsWaiting).toBe(1);
    first.open();
    expect(await later.result).toBe(3);
    expect(later.promote('final')).toBe(true);
  });

  it('drops a waiting job whose signal aborts', async () => {
    const q = new InferenceQueue(4);
    const log: string[] = [];
    const first = gate(log, 'running');
    void q.push(first.run);
    const abort = new AbortController();
    const job = q.schedule(async () => 1, { priority: 'speculative', signal: abort.signal });
    const final = q.schedule(async () => 2, { signal: abort.signal });
    expect(q.finalsWaiting).toBe(1);
    abort.abort();
    await expect(job.result).rejects.toBeInstanceOf(AbortedError);
    await expect(final.result).rejects.toBeInstanceOf(AbortedError);
    expect(q.depth).toBe(1);
    expect(q.finalsWaiting).toBe(0);
    first.open();
  });
});
