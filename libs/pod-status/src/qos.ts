import type { V1Pod, V1ResourceRequirements } from '@kubernetes/client-node';
import { type PodStatusFeatures, withDefaultFeatures } from './features';
import { parseQuantity } from '@splitlet/quantity';

/** v1.PodQOSClass. */
export type PodQOSClass = 'Guaranteed' | 'Burstable' | 'BestEffort';

/** Only cpu and memory decide QoS (supportedQoSComputeResources); hugepages and extended resources do not. */
const QOS_RESOURCES = ['cpu', 'memory'] as const;

/** A resource list value in milli-units (1n rounds up to 1m, so non-zero stays non-zero); absent and unparsable read as zero, as an empty Quantity does. */
const amount = (list: Readonly<Record<string, string>> | undefined, name: string): bigint => {
  const text = list?.[name];
  if (text === undefined) return 0n;
  try {
    return parseQuantity(text);
  } catch {
    return 0n; // the API server would have refused it
  }
};

/**
 * The API server defaults a missing request to its limit (SetDefaults_Pod /
 * SetDefaults_PodSpec for pod-level resources) before any kubelet sees the pod, and
 * upstream's QoS code relies on that. Applying it here makes objects that never went
 * through the API server (fixtures, dry runs) classify the same.
 */
function withDefaultedRequests(resources: V1ResourceRequirements): V1ResourceRequirements {
  const limits = resources.limits ?? {};
  const requests = { ...resources.requests };
  for (const name of QOS_RESOURCES) {
    const limit = limits[name];
    if (limit !== undefined && requests[name] === undefined) requests[name] = limit;
  }
  return { ...resources, requests };
}

/**
 * The class of one set of requirements. Upstream resourceQOS
 * (pkg/apis/core/v1/helper/qos/qos.go): BestEffort when nothing is set; for cpu and
 * memory each, request must equal limit (else Burstable) and all must be set or all
 * unset together.
 */
function resourceQOS(resources: V1ResourceRequirements): PodQOSClass {
  const requests = resources.requests ?? {};
  const limits = resources.limits ?? {};
  if (Object.keys(requests).length === 0 && Object.keys(limits).length === 0) return 'BestEffort';
  let qos: PodQOSClass | undefined;
  for (const name of QOS_RESOURCES) {
    const req = amount(requests, name);
    const lim = amount(limits, name);
    // Not equal means at least one is non-zero: neither Guaranteed nor BestEffort.
    if (req !== lim) return 'Burstable';
    const bestEffort = req === 0n;
    if (qos === undefined) qos = bestEffort ? 'BestEffort' : 'Guaranteed';
    else if (bestEffort !== (qos === 'BestEffort')) return 'Burstable';
  }
  return qos ?? 'BestEffort';
}

/**
 * Evaluates the pod's QoS class from its specs: pod-level resources when set (and the
 * PodLevelResources gate is on), else every init and regular container: any Burstable
 * container, or a mix of BestEffort and Guaranteed ones, makes the pod Burstable.
 * Upstream ComputePodQOS.
 */
export function computePodQOS(pod: V1Pod, features?: Partial<PodStatusFeatures>): PodQOSClass {
  const spec = pod.spec;
  if (withDefaultFeatures(features).podLevelResources && spec?.resources) return resourceQOS(withDefaultedRequests(spec.resources));
  let podQOS: PodQOSClass | undefined;
  for (const container of [...(spec?.initContainers ?? []), ...(spec?.containers ?? [])]) {
    const qos = resourceQOS(withDefaultedRequests(container.resources ?? {}));
    if (qos === 'Burstable') return qos;
    if (podQOS === undefined) podQOS = qos;
    else if (podQOS !== qos) return 'Burstable';
  }
  return podQOS ?? 'BestEffort'; // no containers: only in tests
}

/**
 * The pod's QoS class: status.qosClass once set (it is immutable after admission),
 * else computed. Upstream GetPodQOS, which the kubelet calls for status.qosClass.
 */
export function podQOSClass(pod: V1Pod, features?: Partial<PodStatusFeatures>): PodQOSClass {
  const persisted = pod.status?.qosClass;
  if (persisted === 'Guaranteed' || persisted === 'Burstable' || persisted === 'BestEffort') return persisted;
  return computePodQOS(pod, features);
}
