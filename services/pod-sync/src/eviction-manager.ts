import type { V1Pod, V1Volume } from '@kubernetes/client-node';
import type { ServiceClient } from '@splitlet/bus';
import { ContainerState, type RuntimeService } from '@splitlet/contracts';
import {
  allocatableMayBeMet,
  allocatableMemoryObservation,
  evictionMessageAndAnnotations,
  HARD_EVICTION_GRACE_SECONDS,
  isCriticalPod,
  isHardThreshold,
  rankDiskPressure,
  rankMemoryPressure,
  rankPIDPressure,
  thresholdsMet,
  thresholdToReclaim,
  ThresholdTracker,
  type Observations,
  type PodUsage,
  type ReclaimedResource,
  type Signal,
  type Threshold,
} from '@splitlet/eviction';
import { nodeMemory, nodePids, readMeminfo, treeUsage, type Clock, type Runnable } from '@splitlet/service';
import type { Logger } from '@splitlet/telemetry';
import { podRequests } from './admission-fit';
import { hasLocalStorageLimits, localStorageViolation, measuredVolumes, type ContainerDiskUse, type PodStorageUse } from './local-storage';
import type { Eviction } from './pod-syncer';

const LABEL_UID = 'io.kubernetes.pod.uid';
/** The kubelet's podCleanupTimeout and podCleanupPollFreq. */
const POD_CLEANUP_TIMEOUT_MS = 30_000;
const POD_CLEANUP_POLL_MS = 1_000;
const LABEL_CONTAINER = 'io.kubernetes.container.name';

/** The image filesystem as runtime-executor measures it (Docker's data root: nodefs and imagefs are one here). */
export interface FsObservation {
  availableBytes: bigint;
  capacityBytes: bigint;
  inodesFree: bigint;
  inodes: bigint;
}

/** The node-level reclaim under disk pressure (the kubelet's nodeReclaimFuncs when nodefs and imagefs share a disk). */
export interface NodeReclaim {
  deleteAllUnusedContainers(): Promise<unknown>;
  deleteUnusedImages(): Promise<unknown>;
}

/** The signals acted on here, and the resource each reclaims (signalToResource). */
const SIGNAL_RESOURCE: Partial<Record<Signal, ReclaimedResource>> = {
  'memory.available': 'memory',
  'allocatableMemory.available': 'memory',
  'pid.available': 'pids',
  'nodefs.available': 'ephemeral-storage',
  'imagefs.available': 'ephemeral-storage',
  'nodefs.inodesFree': 'inodes',
  'imagefs.inodesFree': 'inodes',
};
const DISK_SIGNALS: readonly Signal[] = ['nodefs.available', 'imagefs.available', 'nodefs.inodesFree', 'imagefs.inodesFree'];

export interface EvictionDeps {
  /** Every eviction threshold, hard and soft (memory.available's and the disk signals' are acted on here). */
  thresholds: readonly Threshold[];
  /** The image filesystem now; undefined when it cannot be measured. */
  imageFs: () => Promise<FsObservation | undefined>;
  /** What is reclaimed before any pod is evicted for disk. */
  reclaim: NodeReclaim;
  /** --eviction-max-pod-grace-period: a soft eviction's longest grace period, in seconds. */
  maxPodGracePeriodSeconds: number;
  /** --system-reserved and --kube-reserved memory, in bytes: the pods' memory limit is capacity less this. */
  reservedMemoryBytes: bigint;
  /** Where the host's / is: memory.available is read from its /proc/meminfo. */
  hostRoot: string;
  runtime: Pick<ServiceClient<typeof RuntimeService>, 'listContainerStats' | 'listContainers'>;
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
 * The kubelet's eviction manager (its thresholds of SPLITLET_EVICTION_HARD and
 * SPLITLET_EVICTION_SOFT) for memory.available (capacity − working set, the host's
 * /proc/meminfo), allocatableMemory.available (capacity less the reserved memory, less
 * the node's containers' working set: SPLITLET_ENFORCE_NODE_ALLOCATABLE=pods), nodefs/imagefs.available and inodesFree (runtime-executor's
 * ImageFsInfo) and pid.available (pid_max − threads) — what registrar measures for
 * the pressure conditions. Every interval: local storage limits first; then, when a
 * hard threshold is met, or a soft one has been met for its grace period
 * (ThresholdTracker; once acted on, a threshold holds until its minimum reclaim is
 * available too), memory's first: for disk, dead containers and unused images are
 * reclaimed and the signals looked at again; then the node's active pods are ranked
 * as the kubelet ranks them for that resource (rankMemoryPressure, rankDiskPressure,
 * rankPIDPressure) and the first that is not critical is evicted — one pod per
 * interval, as the kubelet's synchronize: with 1 s of grace for a hard threshold, the
 * pod's own (at most --eviction-max-pod-grace-period) for a soft one.
 */
export class EvictionManager implements Runnable {
  /** Pods evicted by this process, by UID: not chosen again while they stop. */
  private readonly chosen = new Set<string>();
  private readonly tracker: ThresholdTracker;
  /** The thresholds of the signals acted on here. */
  private readonly thresholds: readonly Threshold[];

  constructor(private readonly deps: EvictionDeps) {
    this.thresholds = deps.thresholds.filter((t) => SIGNAL_RESOURCE[t.signal] !== undefined);
    this.tracker = new ThresholdTracker(this.thresholds);
  }

  /** makeSignalObservations for the signals some threshold names. */
  private async observe(): Promise<Observations> {
    const observations: Observations = {};
    const memory = this.thresholds.some((t) => t.signal === 'memory.available');
    const allocatable = this.thresholds.some((t) => t.signal === 'allocatableMemory.available');
    if (memory || allocatable) {
      const { availableBytes, capacityBytes } = nodeMemory(await readMeminfo(this.deps.hostRoot));
      if (memory) observations['memory.available'] = { available: availableBytes, capacity: capacityBytes };
      // The pods' working set: the node's containers' together (no answer: not observed this
      // look), asked for only when the node's own memory leaves the threshold within reach.
      const reachable = allocatable && allocatableMayBeMet(this.thresholds, capacityBytes, availableBytes, this.deps.reservedMemoryBytes);
      const pods = reachable ? await this.deps.runtime.listContainerStats({}).then((r) => r.stats.reduce((sum, st) => sum + st.memoryWorkingSetBytes, 0n), () => undefined) : undefined;
      if (pods !== undefined) observations['allocatableMemory.available'] = allocatableMemoryObservation(capacityBytes, this.deps.reservedMemoryBytes, pods);
    }
    if (this.thresholds.some((t) => t.signal === 'pid.available')) {
      const { availablePids, maxPids } = await nodePids(this.deps.hostRoot);
      observations['pid.available'] = { available: availablePids, capacity: maxPids };
    }
    if (this.thresholds.some((t) => DISK_SIGNALS.includes(t.signal))) {
      const fs = await this.deps.imageFs();
      if (fs) {
        observations['nodefs.available'] = observations['imagefs.available'] = { available: fs.availableBytes, capacity: fs.capacityBytes };
        observations['nodefs.inodesFree'] = observations['imagefs.inodesFree'] = { available: fs.inodesFree, capacity: fs.inodes };
      }
    }
    return observations;
  }

  /**
   * Looks every interval; after an eviction, the next look waits instead until the
   * evicted pod runs no container (at most 30 s, asked every second: the kubelet's
   * waitForPodsCleanup), so the pod's own usage is not counted again.
   */
  async run(signal: AbortSignal): Promise<void> {
    while (!signal.aborted) {
      const evicted = await this.synchronize().catch((err: unknown) => void this.deps.logger.warn({ err: (err as Error).message }, 'eviction manager: observation failed'));
      if (evicted) await this.waitForPodCleanup(evicted, signal);
      else await this.deps.clock.sleep(this.deps.intervalMs, signal).catch(() => undefined);
    }
  }

  private async waitForPodCleanup(pod: V1Pod, signal: AbortSignal): Promise<void> {
    const uid = pod.metadata?.uid ?? '';
    const deadline = this.deps.clock.now() + POD_CLEANUP_TIMEOUT_MS;
    while (!signal.aborted && this.deps.clock.now() < deadline) {
      await this.deps.clock.sleep(POD_CLEANUP_POLL_MS, signal).catch(() => undefined);
      // The pod's running containers (no answer: asked again at the next poll).
      const running = await this.deps.runtime.listContainers({ filter: { state: ContainerState.RUNNING, labelSelector: { [LABEL_UID]: uid } } }).then(
        (r) => r.containers.length,
        () => undefined,
      );
      if (running === 0) return;
    }
    this.deps.logger.info({ pod: `${pod.metadata?.namespace}/${pod.metadata?.name}` }, 'eviction manager: timed out waiting for pods to be cleaned up');
  }

  /** One look: the pod evicted, if any (the first, when local storage limits evicted several). */
  async synchronize(): Promise<V1Pod | undefined> {
    // The thresholds' bookkeeping first, whatever acts this look (the kubelet's order).
    const observations = await this.observe();
    const { actionable } = this.tracker.observe(observations, this.deps.clock.now());
    const candidates = this.deps.pods().filter((p) => {
      const uid = p.metadata?.uid ?? '';
      return !p.metadata?.deletionTimestamp && !['Succeeded', 'Failed'].includes(p.status?.phase ?? '') && !this.chosen.has(uid) && this.deps.active(p);
    });
    const overLimits = await this.localStorageEviction(candidates);
    if (overLimits.length) return overLimits[0];
    const threshold = thresholdToReclaim(actionable);
    if (!threshold) return undefined;
    const resource = SIGNAL_RESOURCE[threshold.signal]!;
    const observed = observations[threshold.signal]!;
    // Every look that acts, evicting or not (the kubelet's synchronize).
    this.deps.nodeEvent('Warning', 'EvictionThresholdMet', `Attempting to reclaim ${resource}`);
    // Disk has node-level resources to reclaim first; memory and pids have none.
    if ((resource === 'ephemeral-storage' || resource === 'inodes') && (await this.reclaimNodeLevelResources(resource))) return undefined;
    if (!candidates.length) {
      this.deps.logger.error({ resource }, 'eviction manager: eviction thresholds have been met, but no pods are active to evict');
      return undefined;
    }
    const ranked =
      resource === 'memory' ? rankMemoryPressure(await this.containerUsage(candidates, 'memory'))
      : resource === 'pids' ? rankPIDPressure(await this.containerUsage(candidates, 'pids'))
      : rankDiskPressure(await this.diskUsage(candidates, resource));
    for (const u of ranked) {
      if (isCriticalPod(u.pod)) {
        this.deps.logger.warn({ pod: `${u.pod.metadata?.namespace}/${u.pod.metadata?.name}` }, 'eviction manager: cannot evict a critical pod');
        continue;
      }
      const { message, annotations } = evictionMessageAndAnnotations(resource, u, threshold, observed.available, observed.capacity);
      this.chosen.add(u.pod.metadata!.uid!);
      this.deps.logger.info({ pod: `${u.pod.metadata?.namespace}/${u.pod.metadata?.name}`, signal: threshold.signal, available: String(observed.available) }, `eviction manager: evicting a pod to reclaim ${resource}`);
      this.deps.evict(u.pod, { message, annotations, gracePeriodSeconds: this.gracePeriodSeconds(threshold, u.pod) });
      return u.pod;
    }
    return undefined;
  }

  /**
   * reclaimNodeLevelResources: dead containers (finished pods'), then unused images; then a
   * fresh look — true when no threshold is met any more, its minimum reclaim included,
   * so no pod need go.
   */
  private async reclaimNodeLevelResources(resource: string): Promise<boolean> {
    for (const [what, reclaim] of [
      ['dead containers', () => this.deps.reclaim.deleteAllUnusedContainers()],
      ['unused images', () => this.deps.reclaim.deleteUnusedImages()],
    ] as const) {
      await reclaim().catch((err: unknown) => this.deps.logger.info({ resource, what, err: (err as Error).message }, 'eviction manager: unexpected error when attempting to reduce resource pressure'));
    }
    const met = thresholdsMet(this.thresholds, await this.observe(), true);
    if (met.length) {
      this.deps.logger.info({ resource }, 'eviction manager: must evict pod(s) to reclaim');
      return false;
    }
    this.deps.logger.info({ resource }, 'eviction manager: able to reduce resource pressure without evicting pods');
    return true;
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
    // The pod's running containers as the runtime has them (the kubelet's stats come from
    // the runtime by the pod's label): the API status may not show a container that was
    // just started yet, and a pod whose use went unmeasured would rank last.
    const { containers: running } = await this.deps.runtime.listContainers({ filter: { state: ContainerState.RUNNING, labelSelector: { [LABEL_UID]: pod.metadata?.uid ?? '' } } });
    for (const c of running) {
      const name = c.metadata?.name || c.labels[LABEL_CONTAINER];
      if (!name) continue;
      const { stats } = await this.deps.runtime.listContainerStats({ containerId: c.id, filesystem: true });
      for (const s of stats) containers.set(name, { rootfs: s.writableLayerUsedBytes, logs: s.logUsedBytes, inodes: s.inodesUsed });
    }
    const volumes = new Map<string, bigint>();
    const volumeInodes = new Map<string, bigint>();
    for (const v of measuredVolumes(pod)) {
      const used = await treeUsage(this.deps.volumePath(pod, v));
      if (!used) continue;
      volumes.set(v.name, used.bytes);
      volumeInodes.set(v.name, used.inodes);
    }
    return { containers, volumes, volumeInodes };
  }

  /** The pod is gone from the API server. */
  forget(uid: string): void {
    this.chosen.delete(uid);
  }

  /**
   * Each candidate's ephemeral storage use (podDiskUsage: its containers' writable
   * layers and logs, its local volumes) and request; per container, layer and log. For
   * inodes the same parts' inodes, and no request (the kubelet's exceedDiskRequests
   * finds none for inodes; its last comparator subtracts the ephemeral-storage request
   * in bytes from the inode count, which is not reproduced here).
   */
  private async diskUsage(pods: V1Pod[], resource: 'ephemeral-storage' | 'inodes'): Promise<PodUsage[]> {
    const out: PodUsage[] = [];
    for (const pod of pods) {
      const use = await this.storageUse(pod);
      const inodes = resource === 'inodes';
      const containers = new Map([...use.containers].map(([name, c]) => [name, inodes ? (c.inodes ?? 0n) : c.rootfs + c.logs]));
      const volumes = inodes ? (use.volumeInodes ?? new Map<string, bigint>()) : use.volumes;
      const usageBytes = [...containers.values(), ...volumes.values()].reduce((a, b) => a + b, 0n);
      out.push({ pod, containers, usageBytes, requestBytes: inodes ? 0n : (podRequests(pod).get('ephemeral-storage') ?? 0n) });
    }
    return out;
  }

  /**
   * Each candidate's working set, or process count (its containers', summed; none: no
   * stats), and memory request.
   */
  private async containerUsage(pods: V1Pod[], what: 'memory' | 'pids'): Promise<PodUsage[]> {
    const { stats } = await this.deps.runtime.listContainerStats({});
    const byPod = new Map<string, Map<string, bigint>>();
    for (const s of stats) {
      const uid = s.labels[LABEL_UID];
      const name = s.labels[LABEL_CONTAINER];
      if (!uid || !name) continue;
      const containers = byPod.get(uid) ?? new Map<string, bigint>();
      containers.set(name, (containers.get(name) ?? 0n) + (what === 'memory' ? s.memoryWorkingSetBytes : s.processCount));
      byPod.set(uid, containers);
    }
    return pods.map((pod) => {
      const containers = byPod.get(pod.metadata?.uid ?? '');
      const requestBytes = podRequests(pod).get('memory') ?? 0n;
      if (!containers) return { pod, containers: new Map(), requestBytes };
      return { pod, containers, requestBytes, usageBytes: [...containers.values()].reduce((a, b) => a + b, 0n) };
    });
  }
}

