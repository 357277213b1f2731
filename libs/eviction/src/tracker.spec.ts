import { describe, expect, it } from 'vitest';
import { evictionThresholds, parseGoDuration, parseGracePeriods, parseMinimumReclaims, parseThresholds } from './thresholds';
import { ThresholdTracker, thresholdToReclaim } from './tracker';

const Mi = 1024n * 1024n;
const GiB = 1024n * Mi;
const memory = (availableMi: bigint) => ({ 'memory.available': { available: availableMi * Mi, capacity: 4n * GiB } });

describe('eviction settings (the kubelet\'s flags)', () => {
  it('parseGoDuration - Go\'s time.ParseDuration forms, in ms; the forms Go refuses are refused', () => {
    expect(parseGoDuration('1m30s')).toBe(90_000);
    expect(parseGoDuration('1.5h')).toBe(5_400_000);
    expect(parseGoDuration('300ms')).toBe(300);
    expect(parseGoDuration('0')).toBe(0);
    expect(parseGoDuration('-2s')).toBe(-2000);
    for (const bad of ['90', '1 hour', '2d', '1m 30s', '', 's']) expect(() => parseGoDuration(bad), bad).toThrow('time: invalid duration');
  });

  it('parseThresholds - 0% and 100% set no threshold; a quantity must be positive', () => {
    expect(parseThresholds('memory.available<0%,nodefs.available<100%')).toEqual([]);
    expect(() => parseThresholds('memory.available<0')).toThrow('must be positive');
    expect(() => parseThresholds('memory.free<1Gi')).toThrow('unsupported eviction signal memory.free');
  });

  it('evictionThresholds - hard, then soft with their grace periods, each with its signal\'s minimum reclaim', () => {
    const t = evictionThresholds({
      hard: parseThresholds('memory.available<100Mi,nodefs.available<10%'),
      soft: parseThresholds('memory.available<1Gi'),
      softGracePeriods: parseGracePeriods('memory.available=1m30s'),
      minimumReclaims: parseMinimumReclaims('memory.available=0Mi,nodefs.available=5%'),
    });
    expect(t).toEqual([
      { signal: 'memory.available', quantity: 100n * Mi, format: 'BinarySI', minReclaim: { quantity: 0n, format: 'BinarySI' } },
      { signal: 'nodefs.available', percentage: Math.fround(0.1), minReclaim: { percentage: Math.fround(0.05) } },
      { signal: 'memory.available', quantity: GiB, format: 'BinarySI', gracePeriodMs: 90_000, minReclaim: { quantity: 0n, format: 'BinarySI' } },
    ]);
  });

  it('evictionThresholds - a soft threshold without its grace period is refused in the kubelet\'s words', () => {
    expect(() => evictionThresholds({ hard: [], soft: parseThresholds('memory.available<1Gi'), softGracePeriods: new Map(), minimumReclaims: new Map() })).toThrow(
      'grace period must be specified for the soft eviction threshold memory.available',
    );
    expect(() => parseGracePeriods('memory.available=-1s')).toThrow('must be a positive value');
    expect(() => parseMinimumReclaims('memory.available=0%')).toThrow('must be positive');
  });
});

describe('ThresholdTracker (the eviction manager\'s synchronize)', () => {
  const thresholds = evictionThresholds({
    hard: parseThresholds('memory.available<100Mi'),
    soft: parseThresholds('memory.available<500Mi'),
    softGracePeriods: parseGracePeriods('memory.available=30s'),
    minimumReclaims: parseMinimumReclaims('memory.available=200Mi'),
  });
  const [hard, soft] = thresholds;

  it('ThresholdTracker - a soft threshold is met at once (the conditions) and actionable after its grace period', () => {
    const t = new ThresholdTracker(thresholds);
    expect(t.observe(memory(400n), 0)).toEqual({ met: [soft], actionable: [] });
    expect(t.observe(memory(400n), 29_999)).toEqual({ met: [soft], actionable: [] });
    expect(t.observe(memory(400n), 30_000)).toEqual({ met: [soft], actionable: [soft] });
  });

  it('ThresholdTracker - a hard threshold is actionable at once, and is the one to reclaim', () => {
    const t = new ThresholdTracker(thresholds);
    const look = t.observe(memory(50n), 0);
    expect(look.actionable).toEqual([hard]);
    expect(thresholdToReclaim(look.actionable)).toBe(hard);
  });

  it('ThresholdTracker - acted on, it stays met up to threshold + minimum reclaim; not acted on (grace pending), it does not', () => {
    const t = new ThresholdTracker(thresholds);
    t.observe(memory(400n), 0);
    expect(t.observe(memory(600n), 10_000).met).toEqual([]);
    t.observe(memory(400n), 20_000);
    expect(t.observe(memory(400n), 50_000).actionable).toEqual([soft]);
    expect(t.observe(memory(600n), 60_000)).toEqual({ met: [soft], actionable: [soft] });
    expect(t.observe(memory(700n), 70_000)).toEqual({ met: [], actionable: [] });
    expect(t.observe(memory(600n), 80_000).met).toEqual([]);
  });

  it('ThresholdTracker - a signal not observed meets nothing', () => {
    expect(new ThresholdTracker(thresholds).observe({}, 0)).toEqual({ met: [], actionable: [] });
  });
});
