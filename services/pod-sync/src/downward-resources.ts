import type { V1Container, V1Pod, V1ResourceFieldSelector } from '@kubernetes/client-node';
import { parseQuantity } from '@splitlet/quantity';
import { ContainerConfigError } from './volumes/errors';

/** A resource list as the API holds it: name to quantity text. */
export type ResourceList = Record<string, string>;

/** The limits an unset or zero container limit takes for the downward API (MergeContainerResourceLimits). */
const DEFAULTED = ['cpu', 'memory', 'ephemeral-storage'];
/** resourcehelper.IsSupportedPodLevelResource */
const podLevel = (name: string) => name === 'cpu' || name === 'memory' || name.startsWith('hugepages-');

const isZero = (q: string | undefined) => q === undefined || parseQuantity(String(q)) === 0n;

/**
 * defaultPodLimitsForDownwardAPI (pkg/kubelet/kubelet_resources.go): what an unset
 * container limit reads as — the pod's own limit (pod-level resources) when it sets
 * one, else the node's allocatable.
 */
export function downwardLimitDefaults(pod: V1Pod, allocatable: ResourceList): ResourceList {
  const out = { ...allocatable };
  const podLimits = (pod.spec?.resources?.limits ?? {}) as ResourceList;
  if (!Object.keys(podLimits).some(podLevel)) return out;
  for (const r of DEFAULTED) {
    if (podLevel(r) && !isZero(podLimits[r]) && r in out) out[r] = String(podLimits[r]);
  }
  return out;
}

/** MergeContainerResourceLimits: a copy of the container whose missing or zero cpu, memory and ephemeral-storage limits are the defaults. */
function withDefaultLimits(c: V1Container, defaults: ResourceList): V1Container {
  const limits: ResourceList = { ...((c.resources?.limits ?? {}) as ResourceList) };
  for (const r of DEFAULTED) if (isZero(limits[r]) && defaults[r] !== undefined) limits[r] = defaults[r];
  return { ...c, resources: { ...c.resources, limits } };
}

const ceilDiv = (a: bigint, b: bigint) => (a + b - 1n) / b;

/**
 * ExtractContainerResourceValue (pkg/api/v1/resource/helpers.go): the request or
 * limit in the divisor's unit, rounded up. The API server stores an unset divisor as
 * "0", which means 1. CPU divides milli-cores (MilliValue); memory, ephemeral-storage
 * and hugepages divide whole bytes (Value, itself rounded up).
 */
export function containerResourceValue(fs: V1ResourceFieldSelector, c: V1Container): string {
  const unsupported = () => new ContainerConfigError(`unsupported container resource : ${fs.resource}`);
  const dot = fs.resource.indexOf('.');
  const kind = fs.resource.slice(0, dot);
  const name = fs.resource.slice(dot + 1);
  if (dot < 0 || (kind !== 'limits' && kind !== 'requests')) throw unsupported();
  if (!['cpu', 'memory', 'ephemeral-storage'].includes(name) && !name.startsWith('hugepages-')) throw unsupported();
  const list = ((kind === 'limits' ? c.resources?.limits : c.resources?.requests) ?? {}) as ResourceList;
  // Quantities are parsed into milli-units, rounded up to 1m as the API server does.
  const value = parseQuantity(String(list[name] ?? '0'));
  let divisor = parseQuantity(String(fs.divisor ?? '0'));
  if (divisor === 0n) divisor = 1000n;
  if (name === 'cpu') return String(ceilDiv(value, divisor));
  const whole = (milli: bigint) => ceilDiv(milli, 1000n);
  return String(ceilDiv(whole(value), whole(divisor) || 1n));
}

/**
 * A resourceFieldRef's value, for an env var of `self` or (no `self`) a downwardAPI
 * or projected volume item: the named container (or `self` when none is named), its
 * unset limits defaulted as the kubelet's defaultPodLimitsForDownwardAPI does. For an
 * env var naming another container, the kubelet defaults only the pod's app
 * containers, so an init container named there keeps its own limits. Without the
 * node's allocatable (the Node not read yet) nothing is extracted, as the kubelet's
 * "failed to find node object".
 */
export function resourceFieldValue(pod: V1Pod, fs: V1ResourceFieldSelector, allocatable: ResourceList | undefined, self?: V1Container): string {
  if (!allocatable) throw new ContainerConfigError('failed to find node object, expected a node');
  const defaults = downwardLimitDefaults(pod, allocatable);
  if (self && !fs.containerName) return containerResourceValue(fs, withDefaultLimits(self, defaults));
  const apps = pod.spec?.containers ?? [];
  const target = [...apps, ...(pod.spec?.initContainers ?? [])].find((x) => x.name === fs.containerName);
  if (!target) throw new ContainerConfigError(`container ${fs.containerName ?? ''} not found`);
  const defaulted = !self || apps.includes(target);
  return containerResourceValue(fs, defaulted ? withDefaultLimits(target, defaults) : target);
}
