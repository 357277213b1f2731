import { describe, expect, it } from 'vitest';
import {
  addAllocatableThresholds,
  DEFAULT_ENFORCE_NODE_ALLOCATABLE,
  DEFAULT_EVICTION_HARD,
  evictionThresholds,
  parseEnforceNodeAllocatable,
  parseGoDuration,
  parseGracePeriods,
  parseMinimumReclaims,
  parseThresholds,
  type Threshold,
} from './thresholds';
import { allocatableMayBeMet, allocatableMemoryObservation, sortByEvictionPriority, ThresholdTracker, thresholdToReclaim } from './tracker';

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

describe('allocatableMemory.available (helpers_test.go)', () => {
  const t = (signal: string, grace?: string): Threshold => ({ ...parseThresholds(`${signal}<150Mi`)[0]!, ...(grace ? { gracePeriodMs: parseGoDuration(grace) } : {}) });

  it('TestSortByEvictionPriority - memory first; allocatable memory first; the others keep their order', () => {
    expect(sortByEvictionPriority([]).map((x) => x.signal)).toEqual([]);
    expect(sortByEvictionPriority([t('nodefs.available'), t('pid.available'), t('memory.available')]).map((x) => x.signal)).toEqual(['memory.available', 'nodefs.available', 'pid.available']);
    expect(sortByEvictionPriority([t('nodefs.available'), t('pid.available'), t('allocatableMemory.available')]).map((x) => x.signal)).toEqual(['allocatableMemory.available', 'nodefs.available', 'pid.available']);
  });

  it('TestGetReclaimableThreshold - allocatable, memory, imagefs, nodefs: memory.available (the insertion sort moves each memory threshold to the front in turn)', () => {
    const list = [t('allocatableMemory.available'), t('memory.available'), t('imagefs.available'), t('nodefs.available')];
    expect(thresholdToReclaim(list)?.signal).toBe('memory.available');
    expect(thresholdToReclaim([])).toBeUndefined();
    // The same rule among one signal's thresholds: the soft one listed after the hard one goes first.
    const [hard, soft] = [t('memory.available'), t('memory.available', '1m')];
    expect(thresholdToReclaim([hard, soft])).toBe(soft);
  });

  it('TestAddAllocatableThresholds - only a hard memory.available threshold is copied, with its value and minimum reclaim', () => {
    const imagefs = { ...t('imagefs.available'), minReclaim: { quantity: 0n } };
    expect(addAllocatableThresholds([imagefs])).toEqual([imagefs]);
    const withGrace = { ...t('memory.available', '10ns'), minReclaim: { quantity: 0n } };
    expect(addAllocatableThresholds([withGrace])).toEqual([withGrace]);
    const hard = { ...t('memory.available'), minReclaim: { quantity: 0n } };
    expect(addAllocatableThresholds([hard])).toEqual([hard, { signal: 'allocatableMemory.available', quantity: hard.quantity, format: 'BinarySI', minReclaim: { quantity: 0n } }]);
    const both = [hard, { ...t('memory.available'), quantity: 100n * Mi }];
    expect(addAllocatableThresholds(both).map((x) => [x.signal, x.quantity])).toEqual([
      ['memory.available', 150n * Mi],
      ['memory.available', 100n * Mi],
      ['allocatableMemory.available', 150n * Mi],
      ['allocatableMemory.available', 100n * Mi],
    ]);
  });

  it('--enforce-node-allocatable: pods by default in the settings; the kubelet\'s validation; evictionThresholds adds the allocatable ones only with pods', () => {
    expect(parseEnforceNodeAllocatable(DEFAULT_ENFORCE_NODE_ALLOCATABLE)).toEqual(['pods']);
    expect(parseEnforceNodeAllocatable('pods,kube-reserved')).toEqual(['pods', 'kube-reserved']);
    expect(() => parseEnforceNodeAllocatable('pods,none')).toThrow('may not contain additional enforcements when "none" is specified');
    expect(() => parseEnforceNodeAllocatable('pod')).toThrow('invalid option "pod" specified for EnforceNodeAllocatable setting');
    const settings = { hard: parseThresholds(DEFAULT_EVICTION_HARD), soft: [], softGracePeriods: new Map(), minimumReclaims: new Map() };
    expect(evictionThresholds({ ...settings, enforceNodeAllocatable: ['pods'] }).map((x) => x.signal)).toContain('allocatableMemory.available');
    expect(evictionThresholds({ ...settings, enforceNodeAllocatable: ['none'] }).map((x) => x.signal)).not.toContain('allocatableMemory.available');
    expect(evictionThresholds(settings).map((x) => x.signal)).not.toContain('allocatableMemory.available');
  });

  it('allocatableMemoryObservation - the pods\' limit less their working set, never below 0; capacity is that plus the working set', () => {
    expect(allocatableMemoryObservation(8n * GiB, 1n * GiB, 3n * GiB)).toEqual({ available: 4n * GiB, capacity: 7n * GiB });
    expect(allocatableMemoryObservation(8n * GiB, 6n * GiB, 3n * GiB)).toEqual({ available: 0n, capacity: 3n * GiB });
  });
});

describe('allocatableMayBeMet (whether to ask for the pods\' working set)', () => {
  const [allocatable] = addAllocatableThresholds(parseThresholds('memory.available<100Mi')).slice(1);
  it('reachable only when memory.available less the reserved memory is within the threshold (its minimum reclaim included)', () => {
    expect(allocatableMayBeMet([allocatable!], 8n * GiB, 3n * GiB, 0n)).toBe(false);
    expect(allocatableMayBeMet([allocatable!], 8n * GiB, 3n * GiB, 3n * GiB - 100n * Mi)).toBe(true);
    expect(allocatableMayBeMet([allocatable!], 8n * GiB, 3n * GiB, 3n * GiB - 101n * Mi)).toBe(false);
    expect(allocatableMayBeMet([{ ...allocatable!, minReclaim: { quantity: 500n * Mi } }], 8n * GiB, 3n * GiB, 3n * GiB - 600n * Mi)).toBe(true);
    expect(allocatableMayBeMet(parseThresholds('memory.available<100Mi'), 8n * GiB, 50n * Mi, 0n)).toBe(false);
  });
});
