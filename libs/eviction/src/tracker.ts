import { thresholdAmount, type Signal, type Threshold } from './thresholds';

/** One measurement of a signal: what is available of what capacity (bytes, inodes, pids). */
export interface Observation {
  available: bigint;
  capacity: bigint;
}
export type Observations = Partial<Record<Signal, Observation>>;

/** The node condition each signal sets (the kubelet's signalToNodeCondition). */
export const SIGNAL_CONDITION: Record<Signal, 'MemoryPressure' | 'DiskPressure' | 'PIDPressure'> = {
  'memory.available': 'MemoryPressure',
  'allocatableMemory.available': 'MemoryPressure',
  'nodefs.available': 'DiskPressure',
  'nodefs.inodesFree': 'DiskPressure',
  'imagefs.available': 'DiskPressure',
  'imagefs.inodesFree': 'DiskPressure',
  'pid.available': 'PIDPressure',
};

/**
 * thresholdsMet: the thresholds whose signal is below them; with enforceMinReclaim, below
 * them plus their minimum reclaim. A signal not observed meets nothing.
 */
export function thresholdsMet(thresholds: readonly Threshold[], observations: Observations, enforceMinReclaim: boolean): Threshold[] {
  return thresholds.filter((t) => {
    const o = observations[t.signal];
    if (!o) return false;
    let quantity = thresholdAmount(t, o.capacity);
    if (enforceMinReclaim && t.minReclaim) quantity += thresholdAmount(t.minReclaim, o.capacity);
    return quantity > o.available;
  });
}

/** What one look at the signals found. */
export interface ThresholdLook {
  /**
   * The thresholds met, grace periods ignored, and those acted on at the last look
   * whose minimum reclaim is not yet satisfied: the node conditions come from these.
   */
  met: Threshold[];
  /** Of those, the ones met for at least their grace period: eviction acts on these. */
  actionable: Threshold[];
}

/**
 * The eviction manager's bookkeeping between looks (synchronize in the kubelet's
 * pkg/kubelet/eviction/eviction_manager.go): when each threshold was first seen met
 * (a soft threshold acts only once met for its grace period; met again after a look
 * where it was not, it starts over), and the thresholds acted on, which stay met until
 * their minimum reclaim is available too.
 */
export class ThresholdTracker {
  private firstObservedAt = new Map<Threshold, number>();
  private acted: Threshold[] = [];

  constructor(private readonly thresholds: readonly Threshold[]) {}

  observe(observations: Observations, now: number): ThresholdLook {
    const met = thresholdsMet(this.thresholds, observations, false);
    for (const t of thresholdsMet(this.acted, observations, true)) if (!met.includes(t)) met.push(t);
    const firstObservedAt = new Map<Threshold, number>();
    for (const t of met) firstObservedAt.set(t, this.firstObservedAt.get(t) ?? now);
    this.firstObservedAt = firstObservedAt;
    const actionable = met.filter((t) => now - (firstObservedAt.get(t) ?? now) >= (t.gracePeriodMs ?? 0));
    this.acted = actionable;
    return { met, actionable };
  }
}

/** The memory signals: byEvictionPriority puts their thresholds first. */
export const isMemorySignal = (signal: Signal): boolean => signal === 'memory.available' || signal === 'allocatableMemory.available';

/**
 * The threshold to reclaim among those that can act: sort.Sort(byEvictionPriority),
 * then getReclaimableThreshold's first (every signal here has a resource to reclaim).
 * byEvictionPriority's Less holds whenever the left one is a memory signal, so the
 * insertion sort Go uses for lists this short moves each memory threshold to the front
 * in turn: the memory thresholds come first in reverse order (the allocatable one,
 * appended last, before memory.available; a soft one listed after the hard one before
 * it), the others after them in their order.
 */
export function thresholdToReclaim(actionable: readonly Threshold[]): Threshold | undefined {
  return sortByEvictionPriority(actionable)[0];
}

/** sort.Sort(byEvictionPriority(thresholds)) as Go does it for up to 12 elements: insertion sort. */
export function sortByEvictionPriority(thresholds: readonly Threshold[]): Threshold[] {
  const a = [...thresholds];
  const less = (x: Threshold, _y: Threshold) => isMemorySignal(x.signal);
  for (let i = 1; i < a.length; i++) for (let j = i; j > 0 && less(a[j]!, a[j - 1]!); j--) [a[j], a[j - 1]] = [a[j - 1]!, a[j]!];
  return a;
}

/**
 * allocatableMemory.available: what the pods' cgroup (kubepods, limited to capacity less
 * --system-reserved and --kube-reserved when `pods` is enforced) has left — cadvisor's
 * AvailableBytes, its limit less the pods' working set, never below 0 — of a capacity
 * of that plus the working set (makeSignalObservations). splitlet runs pods without a
 * kubepods cgroup; the pods' working set is the sum over the node's containers.
 */
export function allocatableMemoryObservation(capacityBytes: bigint, reservedBytes: bigint, podsWorkingSetBytes: bigint): Observation {
  const limit = capacityBytes - reservedBytes;
  const available = limit > podsWorkingSetBytes ? limit - podsWorkingSetBytes : 0n;
  return { available, capacity: available + podsWorkingSetBytes };
}

/**
 * Whether an allocatableMemory.available threshold could be met now, before asking for
 * the pods' working set (a stats call per container): the pods' working set is part of
 * the node's (capacity − memory.available), so the pods' limit has at least
 * memory.available − reserved left, against a threshold (its minimum reclaim included:
 * a threshold acted on holds that far) of at most its amount of capacity − reserved.
 */
export function allocatableMayBeMet(thresholds: readonly Threshold[], capacityBytes: bigint, memoryAvailableBytes: bigint, reservedBytes: bigint): boolean {
  const limit = capacityBytes - reservedBytes;
  const leftAtLeast = memoryAvailableBytes - reservedBytes;
  return thresholds.some((t) => t.signal === 'allocatableMemory.available' && thresholdAmount(t, limit) + (t.minReclaim ? thresholdAmount(t.minReclaim, limit) : 0n) >= leftAtLeast);
}
