/** Bucket counts of a Prometheus histogram at one moment: upper bound (s) -> cumulative count. */
export type Buckets = Map<number, number>;

export function parseBuckets(metrics: string, name: string): Buckets {
  const buckets: Buckets = new Map();
  const re = new RegExp(`^${name}_bucket\\{[^}]*le="([^"]+)"[^}]*\\} ([\\d.e+-]+)`, 'gm');
  for (const m of metrics.matchAll(re)) buckets.set(m[1] === '+Inf' ? Number.POSITIVE_INFINITY : Number(m[1]), Number(m[2]));
  return buckets;
}

/**
 * The q-quantile (0..1), in ms, of what happened between two snapshots of the same histogram,
 * interpolated inside its bucket as Prometheus' histogram_quantile does. Undefined without data.
 */
export function quantileBetween(older: Buckets | undefined, newer: Buckets, q: number): number | undefined {
  const bounds = [...newer.keys()].sort((a, b) => a - b);
  const delta = bounds.map((b) => (newer.get(b) ?? 0) - (older?.get(b) ?? 0));
  const total = delta.at(-1) ?? 0;
  if (total <= 0) return undefined;
  const rank = q * total;
  for (let i = 0; i < bounds.length; i++) {
    if (delta[i]! >= rank) {
      const upper = bounds[i]!;
      const lower = i === 0 ? 0 : bounds[i - 1]!;
      if (!Number.isFinite(upper)) return lower * 1000;
      const below = i === 0 ? 0 : delta[i - 1]!;
      const inBucket = delta[i]! - below;
      const fraction = inBucket > 0 ? (rank - below) / inBucket : 1;
      return (lower + (upper - lower) * fraction) * 1000;
    }
  }
  return undefined;
}
