import { describe, expect, it } from 'vitest';
import { parseBuckets, quantileBetween } from '../src/latency_histogram.js';

const exposition = (counts: number[]) =>
  [0.1, 0.2, 0.5, 1, Number.POSITIVE_INFINITY]
    .map((le, i) => `stt_request_latency_seconds_bucket{le="${Number.isFinite(le) ? le : '+Inf'}",service="stt_cpu_ws"} ${counts[i]}`)
    .join('\n');

describe('latency from a service histogram', () => {
  it('parses cumulative buckets', () => {
    const b = parseBuckets(exposition([1, 3, 6, 6, 6]), 'stt_request_latency_seconds');
    expect(b.get(0.2)).toBe(3);
    expect(b.get(Number.POSITIVE_INFINITY)).toBe(6);
  });

  it('interpolates quantiles between two snapshots, as histogram_quantile does', () => {
    const before = parseBuckets(exposition([10, 10, 10, 10, 10]), 'stt_request_latency_seconds');
    const after = parseBuckets(exposition([10, 12, 20, 20, 20]), 'stt_request_latency_seconds');
    // 10 new requests: 2 in (0.1, 0.2], 8 in (0.2, 0.5].
    expect(quantileBetween(before, after, 0.5)).toBeCloseTo(200 + 300 * (3 / 8), 5);
    expect(quantileBetween(before, after, 0.1)).toBeCloseTo(150, 5);
    expect(quantileBetween(after, after, 0.5)).toBeUndefined();
  });
});
