import type { V1Pod } from '@kubernetes/client-node';
import { podQOSClass } from '@splitlet/pod-status';
import { formatQuantity, parseQuantity } from '@splitlet/quantity';
import { thresholdAmount, type Threshold } from './thresholds';

// The kubelet's eviction manager under memory pressure (pkg/kubelet/eviction: helpers.go
// rankMemoryPressure and evictionMessage, eviction_manager.go evictPod and Admit).

/** The reason of an evicted pod, of its Event, and of a pod refused under pressure. */
export const EVICTED = 'Evicted';
/** The grace period of a pod evicted for a hard threshold (immediateEvictionGracePeriodSeconds). */
export const HARD_EVICTION_GRACE_SECONDS = 1;
/** kubelettypes.SystemCriticalPriority: a pod at or above it is never evicted and always admitted. */
export const SYSTEM_CRITICAL_PRIORITY = 2_000_000_000;
/** The taint a BestEffort pod must tolerate to be admitted under memory pressure. */
export const MEMORY_PRESSURE_TAINT = 'node.kubernetes.io/memory-pressure';

/** The resource an eviction reclaims (the kubelet's resourceToReclaim, for the signals acted on here). */
export type ReclaimedResource = 'memory' | 'ephemeral-storage' | 'inodes' | 'pids';

/**
 * What the eviction manager reads of one pod for the resource it reclaims: its usage
 * (undefined: no stats) and per container, and its request. Memory: the working set.
 * ephemeral-storage: the containers' writable layers and logs, and the pod's local
 * volumes (the containers' figures are their layer and log only, as the kubelet's).
 */
export interface PodUsage {
  pod: V1Pod;
  /** The pod's usage in bytes; undefined when there are no stats for it. */
  usageBytes?: bigint;
  /** Usage per container name. */
  containers: ReadonlyMap<string, bigint>;
  /** The pod's effective request of the resource in bytes (resourcehelper.PodRequests). */
  requestBytes: bigint;
}

/**
 * kubelettypes.IsCriticalPod: a static or mirror pod, or one of priority at least
 * system-critical.
 */
export function isCriticalPod(pod: V1Pod): boolean {
  const source = pod.metadata?.annotations?.['kubernetes.io/config.source'];
  if ((source !== undefined && source !== 'api') || pod.metadata?.annotations?.['kubernetes.io/config.mirror'] !== undefined) return true;
  return (pod.spec?.priority ?? 0) >= SYSTEM_CRITICAL_PRIORITY;
}

type Cmp = (a: PodUsage, b: PodUsage) => number;

/** Pods without stats first (every comparator of the kubelet's ranking does so). */
const statsFirst = (a: PodUsage, b: PodUsage): number | undefined => {
  if (a.usageBytes === undefined && b.usageBytes === undefined) return 0;
  if (a.usageBytes === undefined) return -1;
  if (b.usageBytes === undefined) return 1;
  return undefined;
};

/** exceedMemoryRequests / exceedDiskRequests: a pod using more than it requested goes first. */
const exceedRequests: Cmp = (a, b) => {
  const s = statsFirst(a, b);
  if (s !== undefined) return s;
  const ea = a.usageBytes! > a.requestBytes;
  const eb = b.usageBytes! > b.requestBytes;
  return ea === eb ? 0 : ea ? -1 : 1;
};

/** priority: the lower priority goes first. */
const priority: Cmp = (a, b) => Math.sign((a.pod.spec?.priority ?? 0) - (b.pod.spec?.priority ?? 0));

/** memory / disk: the larger usage above request goes first. */
const usage: Cmp = (a, b) => {
  const s = statsFirst(a, b);
  if (s !== undefined) return s;
  const da = a.usageBytes! - a.requestBytes;
  const db = b.usageBytes! - b.requestBytes;
  return da === db ? 0 : da > db ? -1 : 1;
};

/**
 * rankMemoryPressure: orderedBy(exceedMemoryRequests, priority, memory); rankDiskPressure
 * is the same order on disk usage (orderedBy(exceedDiskRequests, priority, disk)). A
 * stable sort.
 */
export function rankMemoryPressure(pods: readonly PodUsage[]): PodUsage[] {
  const order: Cmp[] = [exceedRequests, priority, usage];
  return [...pods].sort((a, b) => {
    for (const cmp of order) {
      const r = cmp(a, b);
      if (r !== 0) return r;
    }
    return 0;
  });
}

/** rankDiskPressureFunc (its ephemeral-storage usage: root filesystems, logs and local volumes). */
export const rankDiskPressure = rankMemoryPressure;

/** process: the pod with more processes goes first (its usage is its process count). */
const processes: Cmp = (a, b) => {
  const s = statsFirst(a, b);
  if (s !== undefined) return s;
  return a.usageBytes === b.usageBytes ? 0 : a.usageBytes! > b.usageBytes! ? -1 : 1;
};

/** rankPIDPressure: orderedBy(priority, process); usageBytes holds the pod's process count. A stable sort. */
export function rankPIDPressure(pods: readonly PodUsage[]): PodUsage[] {
  return [...pods].sort((a, b) => priority(a, b) || processes(a, b));
}

/** A quantity as resource.Quantity.String() prints one given in bytes (BinarySI). */
const bytes = (n: bigint): string => formatQuantity(n * 1000n, 'BinarySI');

/** A request as its Quantity prints it (canonical; "0" when unset). */
function requestText(q: string | undefined): string {
  if (q === undefined) return '0';
  return formatQuantity(parseQuantity(String(q)), /[KMGTPE]i$/.test(String(q)) ? 'BinarySI' : 'DecimalSI');
}

/** The eviction Event's annotations' keys (the kubelet's eviction helpers). */
export const OFFENDING_CONTAINERS_KEY = 'offending_containers';
export const OFFENDING_CONTAINERS_USAGE_KEY = 'offending_containers_usage';
export const OFFENDING_POD_KEY = 'offending_pod';
export const OFFENDING_POD_USAGE_KEY = 'offending_pod_usage';
export const STARVED_RESOURCE_KEY = 'starved_resource';

/**
 * evictionMessage: the starved resource, the threshold met and what was available,
 * then (memory, with a pod-level request) the pod's use, then each container using
 * more than it requested, in the order of the pod's stats. Every part ends in ". "
 * (the trailing space is the kubelet's too). With it, the annotations of the Evicted
 * Event: the pod (pod-level memory request) and the containers over their requests
 * with their usage, comma-separated, and the starved resource — none without stats.
 */
export function evictionMessageAndAnnotations(
  resource: ReclaimedResource,
  u: PodUsage,
  threshold: Threshold | undefined,
  available: bigint,
  capacity: bigint,
): { message: string; annotations: Record<string, string> } {
  let message = `The node was low on resource: ${resource}. `;
  if (threshold) {
    const amount = thresholdAmount(threshold, capacity);
    const quantity = threshold.quantity !== undefined ? formatQuantity(amount * 1000n, threshold.format ?? 'BinarySI') : bytes(amount);
    // pid.available and inodesFree are observed as DecimalSI counts, the others in bytes (BinarySI).
    const counted = resource === 'pids' || resource === 'inodes';
    message += `Threshold quantity: ${quantity}, available: ${counted ? formatQuantity(available * 1000n, 'DecimalSI') : bytes(available)}. `;
  }
  // No stats for the pod: the message so far and no annotations.
  if (u.usageBytes === undefined) return { message, annotations: {} };
  const annotations: Record<string, string> = {};
  const offending: string[] = [];
  const usages: string[] = [];
  const done = () => ({
    message,
    annotations: { ...annotations, [OFFENDING_CONTAINERS_KEY]: offending.join(','), [OFFENDING_CONTAINERS_USAGE_KEY]: usages.join(','), [STARVED_RESOURCE_KEY]: resource },
  });
  // Only memory and ephemeral-storage name the containers over their requests.
  if (resource === 'pids' || resource === 'inodes') return done();
  // Pod-level resources (on by default since 1.34): the pod's memory use against its own request, always.
  const podRequest = u.pod.spec?.resources?.requests?.['memory'] as string | undefined;
  if (resource === 'memory' && podRequest !== undefined) {
    message += `Pod ${u.pod.metadata?.name} was using ${bytes(u.usageBytes)}, request is ${requestText(podRequest)}, has larger consumption of memory. `;
    annotations[OFFENDING_POD_KEY] = u.pod.metadata?.name ?? '';
    annotations[OFFENDING_POD_USAGE_KEY] = bytes(u.usageBytes);
  }
  // In the order of the pod's stats, each regular or init container (ephemeral ones have no requests to blame).
  const specs = [...(u.pod.spec?.containers ?? []), ...(u.pod.spec?.initContainers ?? [])];
  for (const [name, usage] of u.containers) {
    const c = specs.find((x) => x.name === name);
    if (!c) continue;
    const request = c.resources?.requests?.[resource] as string | undefined;
    const requested = request === undefined ? 0n : parseQuantity(String(request)) / 1000n;
    if (usage > requested) {
      message += `Container ${c.name} was using ${bytes(usage)}, request is ${requestText(request)}, has larger consumption of ${resource}. `;
      offending.push(c.name);
      usages.push(bytes(usage));
    }
  }
  return done();
}

/** evictionMessage's message alone. */
export const evictionMessage = (resource: ReclaimedResource, u: PodUsage, threshold: Threshold | undefined, available: bigint, capacity: bigint): string =>
  evictionMessageAndAnnotations(resource, u, threshold, available, capacity).message;

/** evictionMessage for memory. */
export const memoryEvictionMessage = (u: PodUsage, threshold: Threshold | undefined, available: bigint, capacity: bigint): string => evictionMessage('memory', u, threshold, available, capacity);

/**
 * The eviction manager's Admit under the node's pressure conditions (as reported, the
 * transition period included): under MemoryPressure alone, only a BestEffort pod that
 * does not tolerate the memory-pressure NoSchedule taint is refused; under any other
 * pressure (PIDPressure, or more than one) every pod is; a critical pod never is.
 * Returns the refusal's message, or undefined.
 */
export function admitUnderPressure(pod: V1Pod, conditions: readonly string[]): string | undefined {
  if (!conditions.length || isCriticalPod(pod)) return undefined;
  if (conditions.length === 1 && conditions[0] === 'MemoryPressure') {
    if (podQOSClass(pod) !== 'BestEffort') return undefined;
    const tolerates = (pod.spec?.tolerations ?? []).some(
      (t) => (t.effect === undefined || t.effect === '' || t.effect === 'NoSchedule') && ((t.operator === 'Exists' && (t.key === undefined || t.key === '' || t.key === MEMORY_PRESSURE_TAINT)) || (t.key === MEMORY_PRESSURE_TAINT && (t.operator === undefined || t.operator === 'Equal') && (t.value ?? '') === '')),
    );
    if (tolerates) return undefined;
  }
  return `The node had condition: [${conditions.join(' ')}]. `;
}
