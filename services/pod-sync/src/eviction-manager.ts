import type { V1Pod, V1Volume } from '@kubernetes/client-node';
import type { ServiceClient } from '@splitlet/bus';
import type { RuntimeService } from '@splitlet/contracts';
import { HARD_EVICTION_GRACE_SECONDS, isCriticalPod, isHardThreshold, memoryEvictionMessage, rankMemoryPressure, ThresholdTracker, thresholdToReclaim, type PodUsage, type Threshold } from '@splitlet/eviction';
import { nodeMemory, readMeminfo, type Clock, type Runnable } from '@splitlet/service';
import type { Logger } from '@splitlet/telemetry';
import { podRequests } from './admission-fit';
import { diskUsage, hasLocalStorageLimits, localStorageViolation, measuredVolumes, type ContainerDiskUse, type PodStorageUse } from './local-storage';
import type { Eviction } from './pod-syncer';

const LABEL_UID = 'io.kubernetes.pod.uid';
const LABEL_CONTAINER = 'io.kubernetes.container.name';

export interface EvictionDeps {
  /** Every eviction threshold, hard and soft (only memory.available's are acted on here). */
  thresholds: readonly Threshold[];
  /** --eviction-max-pod-grace-period: a soft eviction's longest grace period, in seconds. */
  maxPodGracePeriodSeconds: number;
  /** Where the host's / is: memory.available is read from its /proc/meminfo. */
  hostRoot: string;
  runtime: Pick<ServiceClient<typeof RuntimeService>, 'listContainerStats'>;
  /** The pods bound to the node (the pod informer's). */
  pods: () => readonly V1Pod[];
  /** Whether pod-sync runs the pod (admitted, not refused): only such pods are evicted. */
  active: (pod: V1Pod) => boolean;
  /** Where a volume of the pod is on the host (VolumeManager.volumePath). */
  volumePath: (pod: V1Pod, volume: V1Volume) => string;
  /** Records an Event about the Node. */
  nodeEvent: (type: 'Normal' | 'Warning', reason: string, message: string) => void;
  /** Hands the eviction to the pod's worker (PodSyncer.evict, then a sync). */
  evict: (pod: V1Pod, eviction: Eviction) => void;
  clock: Clock;
  logger: Logger;
  intervalMs: number;
}

/**
 * The kubelet's eviction manager for memory.available (its thresholds of
 * SPLITLET_EVICTION_HARD and SPLITLET_EVICTION_SOFT): every interval, memory.available =
 * capacity − working set (the host's /proc/meminfo, as registrar measures it for
 * MemoryPressure); when a hard threshold is met, or a soft one has been met for its
 * grace period (ThresholdTracker; once acted on, a threshold holds until its minimum
 * reclaim is available too), the node's active pods are ranked as the kubelet ranks
 * them (rankMemoryPressure: over their requests first, then lower priority, then the
 * most over request; their working sets from runtime-executor's container stats) and
 * the first that is not critical is evicted — one pod per interval, as the kubelet's
 * synchronize: with 1 s of grace for a hard threshold, the pod's own (at most
 * --eviction-max-pod-grace-period) for a soft one.
 */
export class EvictionManager implements Runnable {
  /** Pods evicted by this process, by UID: not chosen again while they stop. */
  private readonly chosen = new Set<string>();
  private readonly tracker: ThresholdTracker;
  private readonly memoryThresholds: readonly Threshold[];

  constructor(private readonly deps: EvictionDeps) {
    this.memoryThresholds = deps.thresholds.filter((t) => t.signal === 'memory.available');
    this.tracker = new ThresholdTracker(this.memoryThresholds);
  }

  async run(signal: AbortSignal): Promise<void> {
    while (!signal.aborted) {
      await this.synchronize().catch((err: unknown) => this.deps.logger.warn({ err: (err as Error).message }, 'eviction manager: observation failed'));
      await this.deps.clock.sleep(this.deps.intervalMs, signal).catch(() => undefined);
    }
  }

  /** One look: the pod evicted, if any (the first, when local storage limits evicted several). */
  async synchronize(): Promise<V1Pod | undefined> {
    // The thresholds' bookkeeping first, whatever acts this look (the kubelet's order).
    let memory: { threshold: Threshold | undefined; availableBytes: bigint; capacityBytes: bigint } | undefined;
    if (this.memoryThresholds.length) {
      const { availableBytes, capacityBytes } = nodeMemory(await readMeminfo(this.deps.hostRoot));
      const { actionable } = this.tracker.observe({ 'memory.available': { available: availableBytes, capacity: capacityBytes } }, this.deps.clock.now());
      memory = { threshold: thresholdToReclaim(actionable, 'memory.available'), availableBytes, capacityBytes };
    }
    const candidates = this.deps.pods().filter((p) => {
      const uid = p.metadata?.uid ?? '';
      return !p.metadata?.deletionTimestamp && !['Succeeded', 'Failed'].includes(p.status?.phase ?? '') && !this.chosen.has(uid) && this.deps.active(p);
    });
    const overLimits = await this.localStorageEviction(candidates);
    if (overLimits.length) return overLimits[0];
    const threshold = memory?.threshold;
    if (!memory || !threshold) return undefined;
    const { availableBytes, capacityBytes } = memory;
    // Every look that acts, evicting or not (the kubelet's synchronize).
    this.deps.nodeEvent('Warning', 'EvictionThresholdMet', 'Attempting to reclaim memory');
    if (!candidates.length) return undefined;
    const usage = await this.usage(candidates);
    for (const u of rankMemoryPressure(usage)) {
      if (isCriticalPod(u.pod)) {
        this.deps.logger.warn({ pod: `${u.pod.metadata?.namespace}/${u.pod.metadata?.name}` }, 'eviction manager: cannot evict a critical pod');
        continue;
      }
      const message = memoryEvictionMessage(u, threshold, availableBytes, capacityBytes);
      this.chosen.add(u.pod.metadata!.uid!);
      this.deps.logger.info({ pod: `${u.pod.metadata?.namespace}/${u.pod.metadata?.name}`, availableBytes: String(availableBytes) }, 'eviction manager: evicting a pod to reclaim memory');
      this.deps.evict(u.pod, { message, gracePeriodSeconds: this.gracePeriodSeconds(threshold, u.pod) });
      return u.pod;
    }
    return undefined;
  }

  /**
   * The kill's grace period: a hard threshold's 1 s; a soft one's is the pod's own,
   * at most --eviction-max-pod-grace-period (the kubelet's synchronize).
   */
  private gracePeriodSeconds(threshold: Threshold, pod: V1Pod): number {
    if (isHardThreshold(threshold)) return HARD_EVICTION_GRACE_SECONDS;
    const own = pod.spec?.terminationGracePeriodSeconds;
    return own === undefined ? this.deps.maxPodGracePeriodSeconds : Math.min(this.deps.maxPodGracePeriodSeconds, own);
  }

  /**
   * localStorageEviction (LocalStorageCapacityIsolation): every candidate with an
   * emptyDir sizeLimit or an ephemeral-storage limit is measured — its running
   * containers' writable layers and logs (runtime-executor's stats with `filesystem`),
   * its emptyDir and ConfigMap volumes (du) — and each one over a limit is evicted at
   * once (1 s of grace, no DisruptionTarget condition, as the kubelet's).
   */
  private async localStorageEviction(candidates: readonly V1Pod[]): Promise<V1Pod[]> {
    const evicted: V1Pod[] = [];
    for (const pod of candidates.filter(hasLocalStorageLimits)) {
      const message = localStorageViolation(pod, await this.storageUse(pod));
      if (!message) continue;
      const name = `${pod.metadata?.namespace}/${pod.metadata?.name}`;
      if (isCriticalPod(pod)) {
        this.deps.logger.warn({ pod: name }, 'eviction manager: cannot evict a critical pod');
        continue;
      }
      this.chosen.add(pod.metadata!.uid!);
      this.deps.logger.info({ pod: name, message }, 'eviction manager: evicting a pod over its local storage limit');
      this.deps.evict(pod, { message, gracePeriodSeconds: HARD_EVICTION_GRACE_SECONDS, disruption: false });
      evicted.push(pod);
    }
    return evicted;
  }

  private async storageUse(pod: V1Pod): Promise<PodStorageUse> {
    const containers = new Map<string, ContainerDiskUse>();
    for (const st of pod.status?.containerStatuses ?? []) {
      const id = st.containerID?.replace(/^docker:\/\//, '');
      if (!st.state?.running || !id) continue;
      const { stats } = await this.deps.runtime.listContainerStats({ containerId: id, filesystem: true });
      for (const s of stats) containers.set(st.name, { rootfs: s.writableLayerUsedBytes, logs: s.logUsedBytes });
    }
    const volumes = new Map<string, bigint>();
    for (const v of measuredVolumes(pod)) {
      const used = await diskUsage(this.deps.volumePath(pod, v));
      if (used !== undefined) volumes.set(v.name, used);
    }
    return { containers, volumes };
  }

  /** The pod is gone from the API server. */
  forget(uid: string): void {
    this.chosen.delete(uid);
  }

  /** Each candidate's working set (its containers', summed; none: no stats) and memory request. */
  private async usage(pods: V1Pod[]): Promise<PodUsage[]> {
    const { stats } = await this.deps.runtime.listContainerStats({});
    const byPod = new Map<string, Map<string, bigint>>();
    for (const s of stats) {
      const uid = s.labels[LABEL_UID];
      const name = s.labels[LABEL_CONTAINER];
      if (!uid || !name) continue;
      const containers = byPod.get(uid) ?? new Map<string, bigint>();
      containers.set(name, (containers.get(name) ?? 0n) + s.memoryWorkingSetBytes);
      byPod.set(uid, containers);
    }
    return pods.map((pod) => {
      const containers = byPod.get(pod.metadata?.uid ?? '');
      const requestBytes = podRequests(pod).get('memory') ?? 0n;
      if (!containers) return { pod, containers: new Map(), requestBytes };
      return { pod, containers, requestBytes, workingSetBytes: [...containers.values()].reduce((a, b) => a + b, 0n) };
    });
  }
}
