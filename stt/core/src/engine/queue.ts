export class QueueFullError extends Error {
  readonly code = 'overloaded';
  constructor(readonly limit: number) {
    super(`server busy: inference queue is full (${limit} waiting); try again shortly`);
  }
}

export class AbortedError extends Error {
  readonly code = 'aborted';
  constructor() {
    super('request was cancelled');
  }
}

interface Job<T> {
  run: () => Promise<T>;
  resolve: (value: T) => void;
  reject: (error: unknown) => void;
  signal?: AbortSignal;
  onAbort?: () => void;
}

/**
 * Serialises work onto one model. Bounded, so overload is an immediate, named error
 * rather than a growing wait; a job whose signal aborts while waiting is dropped unrun.
 */
export class InferenceQueue {
  private readonly waiting: Job<unknown>[] = [];
  private running = 0;

  constructor(
    readonly limit: number,
    private readonly concurrency = 1,
  ) {}

  /** Jobs waiting plus the one running. */
  get depth(): number {
    return this.waiting.length + this.running;
  }

  push<T>(run: () => Promise<T>, signal?: AbortSignal): Promise<T> {
    if (signal?.aborted) return Promise.reject(new AbortedError());
    if (this.waiting.length >= this.limit) return Promise.reject(new QueueFullError(this.limit));
    return new Promise<T>((resolve, reject) => {
      const job: Job<T> = { run, resolve, reject, signal };
      if (signal) {
        job.onAbort = () => {
          const i = this.waiting.indexOf(job as Job<unknown>);
          if (i >= 0) {
            this.waiting.splice(i, 1);
            reject(new AbortedError());
          }
        };
        signal.addEventListener('abort', job.onAbort, { once: true });
      }
      this.waiting.push(job as Job<unknown>);
      this.pump();
    });
  }

  private pump(): void {
    while (this.running < this.concurrency && this.waiting.length > 0) {
      const job = this.waiting.shift()!;
      if (job.onAbort) job.signal?.removeEventListener('abort', job.onAbort);
      this.running++;
      // Settle the count before the caller hears back, so depth is exact when it looks.
      const settle = () => {
        this.running--;
        this.pump();
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
