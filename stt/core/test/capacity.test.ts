import { describe, expect, it } from 'vitest';
import { EngineLoad, InferenceQueue } from '../src/index.js';

/** An EngineLoad on a clock the test moves: no real waiting. */
function load(maxBusy = 0.5, windowMs = 10_000) {
  const clock = { t: 1_000_000 };
  return { clock, load: new EngineLoad({ maxBusy, windowMs }, () => clock.t) };
}

/** `sessions` open for `idleMs` of idle engine, then `busyMs` of one job. */
function openThenBusy({ clock, load: l }: ReturnType<typeof load>, sessions: number, idleMs: number, busyMs: number): void {
  l.sessions(sessions);
  clock.t += idleMs;
  l.started();
  clock.t += busyMs;
  l.ended();
}

describe('engine load and capacity', () => {
  it('measures the busy share of the window, the running job up to now', () => {
    const { clock, load: l } = load();
    expect(l.busy()).toBe(0);
    l.started();
    clock.t += 2000;
    expect(l.busy()).toBeCloseTo(0.2);
    l.ended();
    clock.t += 3000;
    expect(l.busy()).toBeCloseTo(0.2);
    // The span slides out of the window: 1 s of it is left after 9 s more.
    clock.t += 6000;
    expect(l.busy()).toBeCloseTo(0.1);
    clock.t += 2000;
    expect(l.busy()).toBe(0);
  });

  it('knows its capacity from what open sessions cost, and refuses past it with a retry hint', () => {
    const measured = load(0.5, 10_000);
    const { clock, load: l } = measured;
    expect(l.capacity()).toBeUndefined(); // nothing measured yet
    expect(l.refusal(0)).toBeUndefined();
    // Three sessions open the whole window kept the engine busy 3 s of 10: 0.1 each, so 5 fit under 0.5.
    openThenBusy(measured, 3, 7000, 3000);
    expect(l.capacity()).toBe(5);
    expect(l.refusal(3)).toBeUndefined();
    expect(l.refusal(4)).toBeUndefined(); // the fifth fits
    // A sixth would not: refused before the engine is past its threshold, told to come back in half a window.
    const projected = l.refusal(5)!;
    expect(projected.reason).toMatch(/^at capacity: 5 sessions at their measured engine cost are all it carries \(STT_MAX_BUSY 0\.5\); retry in 5 s$/);
    expect(projected.retryAfterS).toBe(5);
    l.started();
    clock.t += 3000;
    expect(l.capacity()).toBe(2); // 6 s busy over 30 session-s: 0.2 each
    const refusal = l.refusal(0)!;
    expect(refusal.reason).toMatch(/^at capacity: engine 60% busy .*STT_MAX_BUSY 0\.5.*retry in 1 s$/);
    clock.t += 3000;
    l.ended();
    expect(l.refusal(0)!.retryAfterS).toBe(4); // 0.9 busy: about 4 s idle to fall under 0.5
    l.sessions(0);
    clock.t += 10_000;
    expect(l.refusal(0)).toBeUndefined();
  });

  it('projects only live streams (a capacity of 4 or more), and STT_MAX_BUSY 1 turns admission off', () => {
    // One upload kept the engine busy 3 s of the 5 it was open: a session that costs 0.6 says nothing of the next.
    const upload = load(0.8, 10_000);
    const { clock, load: l } = upload;
    openThenBusy(upload, 1, 0, 3000);
    clock.t += 2000;
    expect(l.capacity()).toBe(1);
    expect(l.refusal(1)).toBeUndefined();
    const off = load(1, 10_000);
    off.load.started();
    off.clock.t += 10_000;
    expect(off.load.busy()).toBe(1);
    expect(off.load.refusal(100)).toBeUndefined();
  });

  it('counts a session only for the time it was open: a burst of new ones does not read as cheap', () => {
    const measured = load(0.5, 10_000);
    const { clock, load: l } = measured;
    // Two sessions for the whole window cost 2 s of engine: 0.1 each.
    openThenBusy(measured, 2, 8000, 2000);
    expect(l.cost()).toBeCloseTo(0.1);
    // Eight more arrive within 100 ms and have cost nothing yet: the cost per session-second hardly moves.
    for (let open = 3; open <= 10; open++) {
      clock.t += 12;
      l.sessions(open);
    }
    expect(l.cost()!).toBeGreaterThan(0.09);
    expect(l.capacity()).toBe(5);
    expect(l.refusal(10)).toBeDefined();
  });

  it('hears from the one scheduler when the engine takes and ends each job', async () => {
    const { clock, load: l } = load();
    const q = new InferenceQueue(4);
    q.observer = l;
    let finish!: () => void;
    const job = q.push(() => new Promise<void>((r) => (finish = r)));
    clock.t += 1000;
    expect(l.busy()).toBeCloseTo(0.1);
    finish();
    await job;
    clock.t += 1000;
    expect(l.busy()).toBeCloseTo(0.1);
  });
});
