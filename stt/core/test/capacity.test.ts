import { describe, expect, it } from 'vitest';
import { EngineLoad, InferenceQueue } from '../src/index.js';

/** An EngineLoad on a clock the test moves: no real waiting. */
function load(maxBusy = 0.5, windowMs = 10_000) {
  const clock = { t: 1_000_000 };
  return { clock, load: new EngineLoad({ maxBusy, windowMs }, () => clock.t) };
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
    const { clock, load: l } = load(0.5, 10_000);
    expect(l.capacity(3)).toBeUndefined(); // nothing measured yet
    expect(l.refusal()).toBeUndefined();
    // Three sessions kept the engine busy 3 s of 10: 0.1 each, so 5 fit under 0.5.
    l.started();
    clock.t += 3000;
    l.ended();
    expect(l.capacity(3)).toBe(5);
    expect(l.refusal()).toBeUndefined();
    l.started();
    clock.t += 3000;
    expect(l.capacity(3)).toBe(2); // 0.6 busy: past capacity already
    const refusal = l.refusal()!;
    expect(refusal.reason).toMatch(/^at capacity: engine 60% busy .*STT_MAX_BUSY 0\.5.*retry in 1 s$/);
    clock.t += 3000;
    l.ended();
    expect(l.refusal()!.retryAfterS).toBe(4); // 0.9 busy: about 4 s idle to fall under 0.5
    clock.t += 10_000;
    expect(l.refusal()).toBeUndefined();
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
