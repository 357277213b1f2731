import { goDuration } from '@splitlet/eviction';

/**
 * The kubelet's generic PLEG relist threshold (pkg/kubelet/pleg/generic.go,
 * RelistThreshold): a node whose last successful relist started longer ago than this
 * is not ready. The kubelet's is fixed; splitlet's is a setting only so that a test
 * can wait less.
 */
export const PLEG_RELIST_THRESHOLD_MS = 3 * 60_000;

/**
 * How often a relist runs at most: the kubelet's runs every second but inspects only
 * the pods that changed, while this one inspects every sandbox and container (measured
 * with 100 pods, at every 10 s update: runtime-executor 0.5 → 2.6 % of a core). A sixth
 * of the threshold (30 s) makes a hung runtime show 2.5–3 minutes after it hung, never
 * later than the kubelet's.
 */
export const relistPeriodMs = (thresholdMs: number) => Math.min(30_000, Math.floor(thresholdMs / 6));

/**
 * The kubelet's PLEG health check ("PLEG is not healthy: …" in the Ready condition),
 * for a node whose runtime answers its status but no longer its lists: Docker's engine
 * deadlocked in libnetwork answers `_ping` and `docker ps` while every inspect waits.
 *
 * A relist is what the kubelet's is: every pod sandbox and container of the node with
 * its status (runtime-executor inspects each). One runs at a time, started by
 * `relist()` when none is running and the last good one started a period ago or more
 * (a failed one is tried again at the next call); like the kubelet's relistTime, the
 * time kept is the start of the last relist that succeeded, so a relist that hangs
 * leaves it to age.
 */
export class PlegHealth {
  private lastRelistStart: number | undefined;
  private running: Promise<void> | undefined;

  constructor(
    private readonly list: () => Promise<unknown>,
    private readonly now: () => number,
    private readonly thresholdMs: number = PLEG_RELIST_THRESHOLD_MS,
    private readonly onError: (err: unknown) => void = () => undefined,
  ) {}

  /** Starts a relist unless one is running or the last good one is recent; resolves when the running one ends (never rejects). */
  relist(): Promise<void> {
    if (!this.running && this.lastRelistStart !== undefined && this.now() - this.lastRelistStart < relistPeriodMs(this.thresholdMs)) return Promise.resolve();
    return (this.running ??= (async () => {
      const start = this.now();
      try {
        await this.list();
        this.lastRelistStart = start;
      } catch (err) {
        this.onError(err);
      }
    })().finally(() => (this.running = undefined)));
  }

  /** Whether a relist ever succeeded (until then the node cannot be ready). */
  get everSucceeded(): boolean {
    return this.lastRelistStart !== undefined;
  }

  /** GenericPLEG.Healthy's error, in its words; undefined when healthy. */
  unhealthy(): string | undefined {
    if (this.lastRelistStart === undefined) return 'pleg has yet to be successful';
    const elapsed = this.now() - this.lastRelistStart;
    if (elapsed > this.thresholdMs) return `pleg was last seen active ${goDuration(elapsed / 1000)} ago; threshold is ${goDuration(this.thresholdMs / 1000)}`;
    return undefined;
  }
}
