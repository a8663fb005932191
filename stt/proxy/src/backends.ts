/** What the proxy knows of one STT service, refreshed by polling its /ready and /metrics. */
export type BackendName = 'cpu' | 'gpu' | 'detect';
export type BackendState = 'down' | 'loading' | 'ready';

export interface BackendStatus {
  name: BackendName;
  url: string;
  state: BackendState;
  device?: string;
  model?: string | null;
  backend?: string;
  queue_depth?: number;
  /** Flush-to-reply through this proxy, over the last RECENT requests. */
  p50_ms?: number;
  p95_ms?: number;
  requests?: number;
  error?: string;
  checked_at?: string;
}

const RECENT = 200;

function percentile(sorted: number[], p: number): number | undefined {
  if (sorted.length === 0) return undefined;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

export class Backend {
  state: BackendState = 'down';
  private detail: Record<string, unknown> = {};
  private queueDepth?: number;
  private error?: string;
  private checkedAt?: Date;
  private readonly latencies: number[] = [];

  constructor(
    readonly name: BackendName,
    readonly url: string,
  ) {}

  /** ws:// URL of a path on this backend. */
  wsUrl(path: string, query = ''): string {
    return `${this.url.replace(/^http/, 'ws').replace(/\/+$/, '')}${path}${query}`;
  }

  observe(latencyMs: number): void {
    this.latencies.push(latencyMs);
    if (this.latencies.length > RECENT) this.latencies.shift();
  }

  /** A failed connection marks the backend down at once, without waiting for the next poll. */
  markDown(reason: string): void {
    this.state = 'down';
    this.error = reason;
  }

  async poll(timeoutMs = 1500): Promise<void> {
    const signal = AbortSignal.timeout(timeoutMs);
    try {
      const ready = await fetch(`${this.url}/ready`, { signal });
      const body = (await ready.json()) as Record<string, unknown>;
      this.detail = body;
      this.state = ready.status === 200 ? 'ready' : body.status === 'failed' ? 'down' : 'loading';
      this.error = typeof body.error === 'string' ? body.error : undefined;
      const metrics = await fetch(`${this.url}/metrics`, { signal }).then((r) => r.text());
      const q = /^stt_queue_depth(?:\{[^}]*\})? ([\d.]+)/m.exec(metrics);
      this.queueDepth = q ? Number(q[1]) : undefined;
    } catch (error) {
      this.state = 'down';
      this.error = `unreachable: ${(error as Error).message}`;
    }
    this.checkedAt = new Date();
  }

  status(): BackendStatus {
    const sorted = [...this.latencies].sort((a, b) => a - b);
    return {
      name: this.name,
      url: this.url,
      state: this.state,
      device: this.detail.device as string | undefined,
      model: this.detail.model as string | null | undefined,
      backend: this.detail.backend as string | undefined,
      queue_depth: this.queueDepth,
      p50_ms: percentile(sorted, 50),
      p95_ms: percentile(sorted, 95),
      requests: this.latencies.length,
      error: this.state === 'ready' ? undefined : this.error,
      checked_at: this.checkedAt?.toISOString(),
    };
  }
}

export interface Backends {
  cpu: Backend;
  gpu?: Backend;
  detect?: Backend;
}

export function allBackends(b: Backends): Backend[] {
  return [b.cpu, b.gpu, b.detect].filter((x): x is Backend => x !== undefined);
}
