import type { V1Pod, V1Volume } from '@kubernetes/client-node';
import { formatQuantity, parseQuantity } from '@splitlet/quantity';
import { treeUsage } from '@splitlet/service';
import { podLimits } from './admission-fit';

/** One container's disk use: its writable layer and its log. */
export interface ContainerDiskUse {
  rootfs: bigint;
  logs: bigint;
  /** Inodes of the writable layer and the log (when measured). */
  inodes?: bigint;
}

/** What the eviction manager measured of one pod's local storage. */
export interface PodStorageUse {
  /** By container name, its running instance's. */
  containers: Map<string, ContainerDiskUse>;
  /** By volume name: the emptyDir and ConfigMap volumes measured (du). */
  volumes: Map<string, bigint>;
  /** Their inodes (du --inodes), when measured. */
  volumeInodes?: Map<string, bigint>;
}

/**
 * Whether the pod sets a local storage limit the eviction manager enforces
 * (LocalStorageCapacityIsolation, on by default): an emptyDir sizeLimit, or a
 * container's ephemeral-storage limit.
 */
export function hasLocalStorageLimits(pod: V1Pod): boolean {
  return (pod.spec?.volumes ?? []).some((v) => sizeLimitOf(v) !== undefined) || podLimits(pod).has('ephemeral-storage');
}

/** The volumes whose disk use the eviction manager measures: emptyDirs (for their sizeLimit) and the pod's local ephemeral volumes (IsLocalEphemeralVolume: disk emptyDir, ConfigMap). */
export function measuredVolumes(pod: V1Pod): V1Volume[] {
  return (pod.spec?.volumes ?? []).filter((v) => v.emptyDir || v.configMap);
}

/**
 * The kubelet's localStorageEviction for one pod, in its order — emptyDirLimitEviction,
 * podEphemeralStorageLimitEviction, containerEphemeralStorageLimitEviction — as the
 * eviction's message (its formats), or undefined when within every limit. Docker's
 * data root is not a dedicated image filesystem here, so a container's writable layer
 * counts with its logs (as the kubelet counts rootfs when !dedicatedImageFs).
 */
export function localStorageViolation(pod: V1Pod, use: PodStorageUse): string | undefined {
  for (const v of pod.spec?.volumes ?? []) {
    const limit = sizeLimitOf(v);
    const used = use.volumes.get(v.name);
    if (limit !== undefined && used !== undefined && limit.bytes > 0n && used > limit.bytes) return `Usage of EmptyDir volume ${JSON.stringify(v.name)} exceeds the limit ${JSON.stringify(limit.text)}. `;
  }
  const podLimit = podLimits(pod).get('ephemeral-storage');
  if (podLimit !== undefined) {
    let total = 0n;
    for (const c of use.containers.values()) total += c.rootfs + c.logs;
    for (const v of pod.spec?.volumes ?? []) if (isLocalEphemeral(v)) total += use.volumes.get(v.name) ?? 0n;
    if (total > podLimit) return `Pod ephemeral local storage usage exceeds the total limit of containers ${formatQuantity(podLimit * 1000n, podLimitFormat(pod))}. `;
  }
  for (const c of pod.spec?.containers ?? []) {
    const limit = c.resources?.limits?.['ephemeral-storage'] as string | undefined;
    if (limit === undefined) continue;
    const bytes = parseQuantity(String(limit)) / 1000n;
    const used = use.containers.get(c.name);
    if (bytes !== 0n && used && used.rootfs + used.logs > bytes) return `Container ${c.name} exceeded its local ephemeral storage limit ${JSON.stringify(quantityText(String(limit)))}. `;
  }
  return undefined;
}

/** The sum keeps the format of the quantity it started from (resource.Quantity.Add): the first container's limit's. */
function podLimitFormat(pod: V1Pod): 'BinarySI' | 'DecimalSI' {
  const first = [...(pod.spec?.containers ?? []), ...(pod.spec?.initContainers ?? [])].map((c) => c.resources?.limits?.['ephemeral-storage'] as string | undefined).find((q) => q !== undefined);
  return first !== undefined && /[KMGTPE]i$/.test(String(first)) ? 'BinarySI' : 'DecimalSI';
}

/** IsLocalEphemeralVolume: a disk-backed emptyDir or a ConfigMap (gitRepo is not supported here). */
const isLocalEphemeral = (v: V1Volume) => Boolean((v.emptyDir && !v.emptyDir.medium) || v.configMap);

function sizeLimitOf(v: V1Volume): { bytes: bigint; text: string } | undefined {
  const limit = v.emptyDir?.sizeLimit as string | undefined;
  if (limit === undefined) return undefined;
  return { bytes: parseQuantity(String(limit)) / 1000n, text: quantityText(String(limit)) };
}

/** resource.Quantity.String(): the canonical form in the format its suffix gave ("10Mi", "1G", "500"). */
function quantityText(q: string): string {
  return formatQuantity(parseQuantity(q), /[KMGTPE]i$/.test(q) ? 'BinarySI' : 'DecimalSI');
}

/**
 * du -s -B1 of a tree: the blocks its files and directories hold (hard links once),
 * not following symlinks nor other filesystems' mounts below it. undefined when absent.
 */
export async function diskUsage(dir: string): Promise<bigint | undefined> {
  return (await treeUsage(dir))?.bytes;
}
