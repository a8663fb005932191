import { ServiceError } from '../protocol/errors.js';

export class QueueFullError extends ServiceError {
  constructor(readonly limit: number) {
    super('overloaded', `server busy: inference queue is full (${limit} waiting, STT_MAX_QUEUE); try again shortly`);
  }
}

export class AbortedError extends ServiceError {
  constructor() {
    super('aborted', 'request was cancelled');
  }
}

/**
 * Who waits for whom. Finals (a flush, an ended turn, a REST call) go first; speculative decodes
 * (a pause that may end the turn) next; background work (the detector's tiny checks, early
 * language detection) last. Within a class, first come first served.
 */
export type Priority = 'final' | 'speculative' | 'background';
const RANK: Record<Priority, number> = { final: 0, speculative: 1, background: 2 };

/** The more urgent of two classes. */
export const higher = (a: Priority, b: Priority): Priority => (RANK[a] <= RANK[b] ? a : b);

export interface ScheduleOptions {
  priority?: Priority;
  signal?: AbortSignal;
  /** A place in line taken earlier (`takePlace`): the job waits as if queued then. */
  place?: number;
}

/** A scheduled job: its result, and what its owner may still change while it waits. */
export interface JobHandle<T> {
  readonly result: Promise<T>;
  /** The engine has taken it (it can no longer be cancelled: whisper.cpp runs to the end). */
  readonly started: boolean;
  /**
   * Moves a waiting job up to a higher class (a speculative decode that became the final), within
   * that class's bound. True when its result is coming at that class or better: it runs or ran,
   * or it now waits there. False when it is not in line (refused, cancelled, shed) or that class
   * is full: it is left where it is, and the caller schedules its own job (which gets its own
   * answer: `overloaded` when the class is full).
   */
  promote(priority: Priority): boolean;
  /** Drops a job that has not started (its result rejects with AbortedError); false if it had. */
  cancel(): boolean;
  /** When the engine took it, in performance.now() ms, and when it was queued. */
  readonly queuedAt: number;
  readonly startedAt?: number;
}

interface Job<T> {
  run: () => Promise<T>;
  resolve: (value: T) => void;
  reject: (error: unknown) => void;
  rank: number;
  order: number;
  signal?: AbortSignal;
  onAbort?: () => void;
  handle: { started: boolean; startedAt?: number };
}

/**
 * The one scheduler for a process's whisper.cpp computations: one at a time (two on two cores
 * slowed each other 70x; one alone may use every core), highest class first. Bounded, so overload
 * is an immediate, named error rather than a growing wait; work below the final class has a
 * smaller bound and is simply not done when the engine is busy.
 */
export class InferenceQueue {
  private readonly waiting: Job<unknown>[] = [];
  /** Finals among `waiting`, kept as jobs enter, leave or are promoted (asked on every partial). */
  private finals = 0;
  private running = 0;
  private order = 0;
  /** Told when the engine takes a job and when it ends (the service's EngineLoad measures its busy time). */
  observer?: { started(): void; ended(): void };

  constructor(
    readonly limit: number,
    private readonly concurrency = 1,
    /** Jobs below the final class that may wait at once. */
    readonly optionalLimit = Math.max(2, Math.ceil(limit / 4)),
  ) {}

  /** Jobs waiting plus the one running. */
  get depth(): number {
    return this.waiting.length + this.running;
  }

  /** Finals waiting (what a new final would queue behind, besides the running job). */
  get finalsWaiting(): number {
    return this.finals;
  }

  /**
   * Whether optional work (partials, speculation, language checks, detector checks) should be
   * skipped now rather than queued: a final already waits, so anything queued below it only adds
   * to a backlog it would be served after, and its own answer would come too late to matter.
   */
  shouldShed(): boolean {
    return this.finalsWaiting > 0;
  }

  get busy(): boolean {
    return this.running > 0;
  }

  /**
   * A place in line for a job whose input is not settled yet (a final that waits for its
   * utterance's language check first): jobs queued meanwhile in its class do not overtake it.
   */
  takePlace(): number {
    return this.order++;
  }

  /** Runs `run` when the engine is free; a final by default. */
  push<T>(run: () => Promise<T>, signal?: AbortSignal, priority: Priority = 'final'): Promise<T> {
    return this.schedule(run, { signal, priority }).result;
  }

  schedule<T>(run: () => Promise<T>, options: ScheduleOptions = {}): JobHandle<T> {
    const priority = options.priority ?? 'final';
    const signal = options.signal;
    const state = { started: false, startedAt: undefined as number | undefined };
    const queuedAt = performance.now();
    let job: Job<T> | undefined;
    const result = new Promise<T>((resolve, reject) => {
      if (signal?.aborted) return reject(new AbortedError());
      const rank = RANK[priority];
      if (this.full(rank)) return reject(new QueueFullError(this.boundOf(rank)));
      job = { run, resolve, reject, rank, order: options.place ?? this.order++, signal, handle: state };
      if (signal) {
        const j = job;
        j.onAbort = () => this.remove(j as Job<unknown>);
        signal.addEventListener('abort', j.onAbort, { once: true });
      }
      this.waiting.push(job as Job<unknown>);
      if (rank === 0) this.finals++;
      this.pump();
    });
    const queue = this;
    return {
      result,
      queuedAt,
      get started() {
        return state.started;
      },
      get startedAt() {
        return state.startedAt;
      },
      promote(p: Priority) {
        if (state.started) return true;
        if (!job || !queue.waiting.includes(job as Job<unknown>)) return false;
        const rank = RANK[p];
        if (job.rank <= rank) return true;
        // A promotion is a new entry in the higher class: the bound holds for it as for any other
        // (finals promoted past it once drove a queue bounded at 32 to 49).
        if (rank === 0 && queue.full(0)) return false;
        if (rank === 0) queue.finals++;
        job.rank = rank;
        return true;
      },
      cancel() {
        if (!job || state.started) return false;
        return queue.remove(job as Job<unknown>);
      },
    };
  }

  /** Finals have their bound; every class below shares the smaller one. */
  private boundOf(rank: number): number {
    return rank === 0 ? this.limit : this.optionalLimit;
  }

  /** Whether a job of this class would be refused now. */
  private full(rank: number): boolean {
    const waiting = rank === 0 ? this.finalsWaiting : this.waiting.length - this.finalsWaiting;
    return waiting >= this.boundOf(rank);
  }

  private remove(job: Job<unknown>): boolean {
    const i = this.waiting.indexOf(job);
    if (i < 0) return false;
    this.waiting.splice(i, 1);
    if (job.rank === 0) this.finals--;
    if (job.onAbort) job.signal?.removeEventListener('abort', job.onAbort);
    job.reject(new AbortedError());
    return true;
  }

  private next(): Job<unknown> | undefined {
    let best = -1;
    for (let i = 0; i < this.waiting.length; i++) {
      const j = this.waiting[i]!;
      const b = best >= 0 ? this.waiting[best]! : undefined;
      if (!b || j.rank < b.rank || (j.rank === b.rank && j.order < b.order)) best = i;
    }
    if (best < 0) return undefined;
    const [job] = this.waiting.splice(best, 1);
    if (job!.rank === 0) this.finals--;
    return job;
  }

  private pump(): void {
    while (this.running < this.concurrency && this.waiting.length > 0) {
      const job = this.next()!;
      if (job.onAbort) job.signal?.removeEventListener('abort', job.onAbort);
      this.running++;
      job.handle.started = true;
      job.handle.startedAt = performance.now();
      this.observer?.started();
      // Settle the count before the caller hears back, so depth is exact when it looks. The next
      // job is chosen only once the callers' promise chains have run: a final waiting on this
      // job's answer (its utterance's language) then queues at its place before a later one starts.
      const settle = () => {
        this.running--;
        this.observer?.ended();
        setImmediate(() => this.pump());
      };
      job.run().then(
        (value) => {
          settle();
          job.resolve(value);
        },
        (error: unknown) => {
          settle();
          job.reject(error);
        },
      );
    }
  }
}
