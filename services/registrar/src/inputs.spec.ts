import { describe, expect, it } from 'vitest';
import { RecentValue, RUNTIME_SYNC_THRESHOLD_MS } from './inputs';

describe('registrar inputs', () => {
  it('RecentValue - the last answer counts for 30 s (the kubelet\'s maxWaitForContainerRuntime), then nothing', () => {
    const v = new RecentValue<string>(RUNTIME_SYNC_THRESHOLD_MS);
    expect(v.get(0)).toBeUndefined();
    v.set('ready', 1_000);
    expect(v.get(1_000)).toBe('ready');
    expect(v.get(30_999)).toBe('ready');
    expect(v.get(31_000)).toBeUndefined();
    v.set('again', 40_000);
    expect(v.get(69_999)).toBe('again');
  });
});
