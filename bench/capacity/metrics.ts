/**
 * What the stack's /metrics say during a run: the transcription service's engine busy fraction
 * (sampled while the streams play), and at the end its shed work by kind and refused sessions,
 * with the proxy's refusals. A fresh stack per run, so totals are the run's own.
 */
const num = (v: string | undefined) => (v === undefined ? undefined : Number(v));

/** Prometheus text: every sample of `name` with its labels. */
export function samples(text: string, name: string): { labels: Record<string, string>; value: number }[] {
  const out: { labels: Record<string, string>; value: number }[] = [];
  const line = new RegExp(`^${name}(?:\\{([^}]*)\\})? (\\S+)$`, 'gm');
  for (const m of text.matchAll(line)) {
    const labels: Record<string, string> = {};
    for (const l of (m[1] ?? '').matchAll(/(\w+)="([^"]*)"/g)) labels[l[1]!] = l[2]!;
    out.push({ labels, value: num(m[2])! });
  }
  return out;
}

/** Sum of `name`'s samples, by one label's value. */
export function byLabel(text: string, name: string, label: string): Record<string, number> {
  const totals: Record<string, number> = {};
  for (const s of samples(text, name)) totals[s.labels[label] ?? ''] = (totals[s.labels[label] ?? ''] ?? 0) + s.value;
  return totals;
}

export const scrape = (port: number) => fetch(`http://127.0.0.1:${port}/metrics`, { signal: AbortSignal.timeout(5000) }).then((r) => r.text());

export interface BusySampler {
  /** Busy ratio samples taken so far, with their time (performance.now()). */
  readonly values: { at: number; busy: number; sessions: number; capacity: number }[];
  stop(): void;
}

/** Reads stt_engine_busy_ratio (a 20 s moving window) every `everyMs` from the service's /metrics. */
export function sampleBusy(port: number, everyMs = 2000): BusySampler {
  const values: BusySampler['values'] = [];
  const timer = setInterval(() => {
    scrape(port)
      .then((text) => {
        const one = (name: string) => samples(text, name)[0]?.value ?? NaN;
        values.push({ at: performance.now(), busy: one('stt_engine_busy_ratio'), sessions: one('stt_sessions_active'), capacity: one('stt_capacity_sessions') });
      })
      .catch(() => undefined);
  }, everyMs);
  return { values, stop: () => clearInterval(timer) };
}
