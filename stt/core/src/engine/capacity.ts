/** When a service stops admitting new sessions (STT_MAX_BUSY, STT_BUSY_WINDOW_MS). */
export interface CapacitySettings {
  /** Engine busy fraction over the window at which new sessions are refused. */
  maxBusy: number;
  windowMs: number;
}

export const DEFAULT_CAPACITY: CapacitySettings = { maxBusy: 0.9, windowMs: 20_000 };

export interface Refusal {
  reason: string;
  /** Seconds after which a new try may be admitted: the hint a client waits before it retries. */
  retryAfterS: number;
}

/**
 * How loaded the engine is, and how many sessions it can carry. The model, in one place:
 * - busy = the share of the last `windowMs` in which the InferenceQueue ran a job (the running
 *   job counts up to now). One engine runs one job at a time, so at busy 1 finals start to wait
 *   behind each other and the queue grows without bound.
 * - each open session costs busy / sessions of the engine: engine ms per second of a live
 *   stream, which sends one second of audio per second.
 * - capacity = the sessions that fit under `maxBusy` at that cost: floor(maxBusy * sessions / busy).
 * Past it (busy >= maxBusy, the same thing said of the engine) a new session is refused at
 * connect; the admitted ones never are, so their finals stay prompt. With nothing measured yet
 * (no session, or an idle engine) capacity is unknown and nothing is refused.
 */
export class EngineLoad {
  /** Finished jobs that still overlap the window, as [start, end] ms. */
  private readonly spans: [number, number][] = [];
  private running = 0;
  private runningSince = 0;

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

  /** Spans that ended before the window: gone, so a service nobody scrapes holds only a window's worth. */
  private forget(now: number): void {
    const from = now - this.settings.windowMs;
    while (this.spans.length > 0 && this.spans[0]![1] <= from) this.spans.shift();
  }

  /** Engine busy fraction over the last window, 0..1. */
  busy(): number {
    const now = this.now();
    const from = now - this.settings.windowMs;
    this.forget(now);
    let ms = 0;
    for (const [start, end] of this.spans) ms += end - Math.max(start, from);
    if (this.running > 0) ms += now - Math.max(this.runningSince, from);
    return Math.min(1, ms / this.settings.windowMs);
  }

  /** Sessions this engine carries under `maxBusy`, measured with `sessions` open; undefined until measured. */
  capacity(sessions: number): number | undefined {
    const busy = this.busy();
    if (sessions === 0 || busy === 0) return undefined;
    return Math.floor((this.settings.maxBusy * sessions) / busy);
  }

  /** Why a new session is refused now, or undefined when it is admitted. */
  refusal(): Refusal | undefined {
    const busy = this.busy();
    if (busy < this.settings.maxBusy) return undefined;
    // An engine idle from now needs about this long for the window to fall below the threshold.
    const windowS = this.settings.windowMs / 1000;
    const retryAfterS = Math.max(1, Math.min(Math.ceil(windowS), Math.ceil((busy - this.settings.maxBusy) * windowS)));
    const percent = Math.round(busy * 100);
    return {
      retryAfterS,
      reason: `at capacity: engine ${percent}% busy over the last ${windowS} s (STT_MAX_BUSY ${this.settings.maxBusy}); retry in ${retryAfterS} s`,
    };
  }
}
