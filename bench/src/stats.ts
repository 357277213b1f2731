/** A latency (or any) distribution as the bench reports it. */
export interface Summary {
  count: number;
  min: number;
  p50: number;
  p90: number;
  p99: number;
  max: number;
  mean: number;
}

/**
 * The p-th percentile (0 < p ≤ 100) by the nearest-rank method: the smallest sample
 * such that at least p % of the samples are ≤ it. It is always an observed value
 * (no interpolation), so with 50 samples p99 is the maximum — the honest reading of
 * a small sample.
 */
export function percentile(samples: readonly number[], p: number): number {
  if (!(p > 0 && p <= 100)) throw new RangeError(`percentile must be in (0, 100], got ${p}`);
  if (samples.length === 0) return Number.NaN;
  const sorted = [...samples].sort((a, b) => a - b);
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length, Math.max(1, rank)) - 1]!;
}

/** count, min, p50, p90, p99, max and mean of the samples (NaN for none), rounded to 0.1. */
export function summarize(samples: readonly number[]): Summary {
  const round = (v: number) => Math.round(v * 10) / 10;
  if (samples.length === 0) {
    return { count: 0, min: Number.NaN, p50: Number.NaN, p90: Number.NaN, p99: Number.NaN, max: Number.NaN, mean: Number.NaN };
  }
  return {
    count: samples.length,
    min: round(Math.min(...samples)),
    p50: round(percentile(samples, 50)),
    p90: round(percentile(samples, 90)),
    p99: round(percentile(samples, 99)),
    max: round(Math.max(...samples)),
    mean: round(samples.reduce((a, b) => a + b, 0) / samples.length),
  };
}

/** The median of several numbers (the lower middle for an even count). */
export const median = (values: readonly number[]): number => percentile(values, 50);
