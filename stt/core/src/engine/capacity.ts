/** When a service stops admitting new sessions (STT_MAX_BUSY, STT_BUSY_WINDOW_MS). */
export interface CapacitySettings {
  /** Engine busy fraction over the window at which new sessions are refused. */
  maxBusy: number;
  windowMs: number;
}

export const DEFAULT_CAPACITY: CapacitySettings = { maxBusy: 0.8, windowMs: 20_000 };

export interface Refusal {
  reason: string;
  /** Seconds after which a new try may be admitted: the hint a client waits before it retries. */
  retryAfterS: number;
}

/**
 * How loaded the engine is, and how many sessions it can carry. The model, in one place:
 * - busy = the share of the last `windowMs` in which the InferenceQueue ran a job (the running
 *   job counts up to now). One engine runs one job at a time, so near busy 1 finals wait behind
 *   each other and the queue grows without bound.
 * - cost = engine time per session-second over the same window: busy ms / the sum of the time
 *   each session was open in it. A session opened a moment ago has had little time to cost
 *   anything and counts for that little, so a burst of new sessions does not read as cheap ones.
 * - capacity = the sessions that fit under `maxBusy` at that cost: floor(maxBusy / cost).
 * A new session is refused at connect when the engine is past `maxBusy` already, or when the
 * sessions open now plus this one would be, at their measured cost; the admitted ones never are,
 * so their finals stay prompt. With nothing measured yet (no session-second, an idle engine)
 * capacity is unknown and nothing is refused.
 */
/** Fewest sessions a capacity must hold for the projection to refuse anyone (see refusal). */
const MIN_PROJECTED = 4;

export class EngineLoad {
  /** Finished jobs that still overlap the window, as [start, end] ms. */
  private readonly spans: [number, number][] = [];
  private running = 0;
  private runningSince = 0;
  /** Sessions open, as [since ms, count] steps: the first may start before the window. */
  private readonly open: [number, number][] = [];

  constructor(
    readonly settings: CapacitySettings = DEFAULT_CAPACITY,
    private readonly now: () => number = () => performance.now(),
  ) {}

  /** The queue gave the engine a job. */
  started(): void {
    if (this.running++ === 0) this.runningSince = this.now();
  }

  /** A job ended (done or failed). */
  ended(): void {
    if (this.running === 0) return;
    if (--this.running === 0) {
      const now = this.now();
      this.spans.push([this.runningSince, now]);
      this.forget(now);
    }
  }

  /** The count of open sessions changed (admitted, or one left). */
  sessions(count: number): void {
    const now = this.now();
    this.open.push([now, count]);
    this.forget(now);
  }

  /** What ended before the window: gone, so a service nobody scrapes holds only a window's worth. */
  private forget(now: number): void {
    const from = now - this.settings.windowMs;
    while (this.spans.length > 0 && this.spans[0]![1] <= from) this.spans.shift();
    while (this.open.length > 1 && this.open[1]![0] <= from) this.open.shift();
  }

  /** Engine busy ms over the last window. */
  private busyMs(now: number): number {
    const from = now - this.settings.windowMs;
    let ms = 0;
    for (const [start, end] of this.spans) ms += end - Math.max(start, from);
    if (this.running > 0) ms += now - Math.max(this.runningSince, from);
    return ms;
  }

  /** Session-ms over the last window. */
  private sessionMs(now: number): number {
    const from = now - this.settings.windowMs;
    let ms = 0;
    for (let i = 0; i < this.open.length; i++) {
      const [since, count] = this.open[i]!;
      const until = this.open[i + 1]?.[0] ?? now;
      ms += Math.max(0, until - Math.max(since, from)) * count;
    }
    return ms;
  }

  /** Engine busy fraction over the last window, 0..1. */
  busy(): number {
    const now = this.now();
    this.forget(now);
    return Math.min(1, this.busyMs(now) / this.settings.windowMs);
  }

  /** Engine ms per session-ms over the last window; undefined before a session-second or any job. */
  cost(): number | undefined {
    const now = this.now();
    this.forget(now);
    const sessionMs = this.sessionMs(now);
    const busyMs = this.busyMs(now);
    // Less than a session-second (half a window, if shorter) says too little to go on.
    return sessionMs >= Math.min(1000, this.settings.windowMs / 2) && busyMs > 0 ? busyMs / sessionMs : undefined;
  }

  /** Sessions this engine carries under `maxBusy` at what its sessions cost now; undefined until measured. */
  capacity(): number | undefined {
    const cost = this.cost();
    return cost === undefined ? undefined : Math.floor(this.settings.maxBusy / cost);
  }

  /** Why a new session is refused now, with `open` sessions open, or undefined when it is admitted. */
  refusal(open: number): Refusal | undefined {
    // STT_MAX_BUSY 1: admission off (the engine may run flat out; the queue bound still holds).
    if (this.settings.maxBusy >= 1) return undefined;
    const busy = this.busy();
    const windowS = this.settings.windowMs / 1000;
    const limit = `STT_MAX_BUSY ${this.settings.maxBusy}`;
    if (busy >= this.settings.maxBusy) {
      // An engine idle from now needs about this long for the window to fall below the threshold.
      const retryAfterS = Math.max(1, Math.min(Math.ceil(windowS), Math.ceil((busy - this.settings.maxBusy) * windowS)));
      return { retryAfterS, reason: `at capacity: engine ${Math.round(busy * 100)}% busy over the last ${windowS} s (${limit}); retry in ${retryAfterS} s` };
    }
    // The projection is for live streams, which send a second of audio a second and so cost a
    // small share each. Sessions that cost more (an upload, a file sent faster than it plays) keep
    // the engine busy only while they last: one more says nothing of the next, and the busy rule
    // above governs them.
    const capacity = this.capacity();
    if (capacity === undefined || capacity < MIN_PROJECTED || open + 1 <= capacity) return undefined;
    // Room comes when a session leaves, which nothing here can foresee: half a window.
    const retryAfterS = Math.max(1, Math.ceil(windowS / 2));
    return { retryAfterS, reason: `at capacity: ${open} sessions at their measured engine cost are all it carries (${limit}); retry in ${retryAfterS} s` };
  }
}
