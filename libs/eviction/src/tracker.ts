import { isHardThreshold, thresholdAmount, type Signal, type Threshold } from './thresholds';

/** One measurement of a signal: what is available of what capacity (bytes, inodes, pids). */
export interface Observation {
  available: bigint;
  capacity: bigint;
}
export type Observations = Partial<Record<Signal, Observation>>;

/** The node condition each signal sets (the kubelet's signalToNodeCondition). */
export const SIGNAL_CONDITION: Record<Signal, 'MemoryPressure' | 'DiskPressure' | 'PIDPressure'> = {
  'memory.available': 'MemoryPressure',
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

/**
 * The threshold to reclaim among those that can act (byEvictionPriority, then
 * getReclaimableThreshold): memory's first, else the first signal's; of a signal's hard
 * and soft thresholds the hard one (it evicts at once).
 */
export function thresholdToReclaim(actionable: readonly Threshold[]): Threshold | undefined {
  const memory = actionable.filter((t) => t.signal === 'memory.available');
  const first = memory[0] ?? actionable[0];
  const ofSignal = actionable.filter((t) => t.signal === first?.signal);
  return ofSignal.find(isHardThreshold) ?? ofSignal[0];
}
