import { describe, expect, it } from 'vitest';
import { median, percentile, summarize } from './stats';

describe('stats', () => {
  it('percentile - nearest rank: always an observed sample', () => {
    const s = [15, 20, 35, 40, 50];
    expect(percentile(s, 30)).toBe(20);
    expect(percentile(s, 40)).toBe(20);
    expect(percentile(s, 50)).toBe(35);
    expect(percentile(s, 100)).toBe(50);
    expect(percentile(s, 1)).toBe(15);
  });

  it('percentile - ignores the input order and does not reorder it', () => {
    const s = [3, 1, 2];
    expect(percentile(s, 50)).toBe(2);
    expect(s).toEqual([3, 1, 2]);
  });

  it('percentile - p99 of 50 samples is the maximum; of 1000 the 990th', () => {
    const fifty = Array.from({ length: 50 }, (_, i) => i + 1);
    expect(percentile(fifty, 99)).toBe(50);
    expect(percentile(fifty, 90)).toBe(45);
    const thousand = Array.from({ length: 1000 }, (_, i) => 1000 - i);
    expect(percentile(thousand, 99)).toBe(990);
  });

  it('percentile - NaN for no samples; a bad p is refused', () => {
    expect(percentile([], 50)).toBeNaN();
    expect(() => percentile([1], 0)).toThrow(RangeError);
    expect(() => percentile([1], 101)).toThrow(RangeError);
  });

  it('summarize - count, min, percentiles, max and mean, rounded to 0.1', () => {
    expect(summarize([1.04, 2, 3, 4])).toEqual({ count: 4, min: 1, p50: 2, p90: 4, p99: 4, max: 4, mean: 2.5 });
    expect(summarize([]).count).toBe(0);
    expect(summarize([]).p50).toBeNaN();
  });

  it('median - the lower middle of an even count', () => {
    expect(median([4, 1, 3, 2])).toBe(2);
    expect(median([7])).toBe(7);
  });
});
