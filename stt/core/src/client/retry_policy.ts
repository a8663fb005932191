/**
 * How a transcription link waits before trying again: after a failed attempt, a refusal (1013
 * busy, not_ready), a "not now" error answer or running out of attempts. One object, so every
 * wait of a session grows along the same curve and the defaults live in one place.
 */
export interface RetryPolicy {
  /** The first wait; each further one doubles, up to maxDelayMs. */
  retryDelayMs: number;
  maxDelayMs: number;
  /**
   * Share of each wait drawn at random (0-1): sessions refused together (a backend at its
   * connection limit) come back spread out instead of in one wave.
   */
  jitter: number;
  /** After running out of attempts: the wait before the next round. */
  exhaustedDelayMs: number;
}

export const DEFAULT_RETRY_POLICY: Readonly<RetryPolicy> = { retryDelayMs: 250, maxDelayMs: 5000, jitter: 0.3, exhaustedDelayMs: 2000 };

/** The policy with the caller's overrides (undefined fields keep the defaults). */
export function retryPolicy(overrides: Partial<RetryPolicy> = {}): RetryPolicy {
  const defined = Object.fromEntries(Object.entries(overrides).filter(([, v]) => v !== undefined));
  return { ...DEFAULT_RETRY_POLICY, ...defined };
}

/** One session's place on the policy's curve: `next()` is the wait for the next try. */
export class Backoff {
  private step = 0;

  constructor(
    private readonly policy: RetryPolicy,
    private readonly random: () => number = Math.random,
  ) {}

  next(): number {
    const base = Math.min(this.policy.retryDelayMs * 2 ** this.step, this.policy.maxDelayMs);
    this.step++;
    // Jitter only shortens a wait: the bound stays maxDelayMs.
    return Math.round(base * (1 - this.policy.jitter * this.random()));
  }

  /** The wait after a round of attempts ran out. */
  exhausted(): number {
    const base = Math.max(this.policy.exhaustedDelayMs, Math.min(this.policy.retryDelayMs * 2 ** this.step, this.policy.maxDelayMs));
    return Math.round(base * (1 - this.policy.jitter * this.random()));
  }

  reset(): void {
    this.step = 0;
  }
}
