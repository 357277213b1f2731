import type { V1Container, V1Node, V1NodeSelectorRequirement, V1NodeSelectorTerm, V1Pod, V1Taint, V1Toleration } from '@kubernetes/client-node';
import { parseQuantity } from '@splitlet/quantity';
import type { Rejection } from './admission';

/**
 * The kubelet's predicate admit handler's general filter (pkg/kubelet/lifecycle/
 * predicate.go generalFilter → the scheduler's AdmissionCheck with every failure):
 * resource fit against the node's allocatable less what the pods already admitted
 * request, the node name, the node selector and required node affinity, host ports,
 * then the NoExecute taints the pod does not tolerate. Like the kubelet, only the
 * first failure is the rejection: `OutOf<resource>` with the InsufficientResourceError
 * text, else the predicate's name with "Predicate <name> failed: <reason>".
 */
export function generalFilter(pod: V1Pod, node: V1Node, others: readonly V1Pod[]): Rejection | undefined {
  const fit = insufficientResource(pod, node, others);
  if (fit) return fit;
  const failed = (name: string, reason: string): Rejection => ({ reason: name, message: `Predicate ${name} failed: ${reason}` });
  if (!matchesNodeSelectorAndAffinity(pod, node)) return failed('NodeAffinity', 'node(s) didn\'t match Pod\'s node affinity/selector');
  if (pod.spec?.nodeName && pod.spec.nodeName !== node.metadata?.name) return failed('NodeName', 'node(s) didn\'t match the requested node name');
  if (hostPortConflict(pod, others)) return failed('NodePorts', 'node(s) didn\'t have free ports for the requested pod ports');
  if (untoleratedNoExecute(node.spec?.taints ?? [], pod.spec?.tolerations ?? [])) return failed('TaintToleration', 'node(s) had taints that the pod didn\'t tolerate');
  return undefined;
}

type Amounts = Map<string, bigint>;

/** A resource as the scheduler counts it: milli-cores for cpu, whole units (rounded up) for the rest. */
function amount(name: string, q: string | undefined): bigint {
  if (q === undefined) return 0n;
  const milli = parseQuantity(String(q));
  return name === 'cpu' ? milli : (milli + 999n) / 1000n;
}

function add(to: Amounts, from: Amounts): void {
  for (const [k, v] of from) to.set(k, (to.get(k) ?? 0n) + v);
}

function maxInto(to: Amounts, from: Amounts): void {
  for (const [k, v] of from) if (v > (to.get(k) ?? 0n)) to.set(k, v);
}

const requestsOf = (c: V1Container): Amounts => new Map(Object.entries((c.resources?.requests ?? {}) as Record<string, string>).map(([k, v]) => [k, amount(k, v)]));

/**
 * What resourcehelper.PodRequests and PodLimits share: the app containers' amounts plus
 * the sidecars', or an init container's (with the sidecars started before it) when larger.
 */
function containersTotal(pod: V1Pod, of: (c: V1Container) => Amounts): Amounts {
  const total: Amounts = new Map();
  for (const c of pod.spec?.containers ?? []) add(total, of(c));
  const sidecars: Amounts = new Map();
  const initMax: Amounts = new Map();
  for (const c of pod.spec?.initContainers ?? []) {
    const r = of(c);
    if (c.restartPolicy === 'Always') {
      add(sidecars, r);
      maxInto(initMax, sidecars);
    } else {
      const withSidecars: Amounts = new Map(sidecars);
      add(withSidecars, r);
      maxInto(initMax, withSidecars);
    }
  }
  add(total, sidecars);
  maxInto(total, initMax);
  return total;
}

const overheadOf = (pod: V1Pod): Amounts => new Map(Object.entries((pod.spec?.overhead ?? {}) as Record<string, string>).map(([k, v]) => [k, amount(k, v)]));

/**
 * resourcehelper.PodRequests: the containers' requests (containersTotal) plus the pod's
 * overhead; pod-level resources (spec.resources) stand for cpu and memory when set.
 */
export function podRequests(pod: V1Pod): Amounts {
  const reqs = containersTotal(pod, requestsOf);
  const podLevel = (pod.spec as { resources?: { requests?: Record<string, string> } } | undefined)?.resources?.requests ?? {};
  for (const k of ['cpu', 'memory']) if (podLevel[k] !== undefined) reqs.set(k, amount(k, podLevel[k]));
  add(reqs, overheadOf(pod));
  return reqs;
}

const limitsOf = (c: V1Container): Amounts => new Map(Object.entries((c.resources?.limits ?? {}) as Record<string, string>).map(([k, v]) => [k, amount(k, v)]));

/**
 * resourcehelper.PodLimits for the resources some container limits: the containers'
 * limits (containersTotal), the pod's overhead added to those present.
 */
export function podLimits(pod: V1Pod): Amounts {
  const limits = containersTotal(pod, limitsOf);
  for (const [k, v] of overheadOf(pod)) if (limits.has(k)) limits.set(k, limits.get(k)! + v);
  return limits;
}

/** noderesources.fitsRequest: pods first, then cpu, memory, ephemeral-storage and the node's extended resources. */
function insufficientResource(pod: V1Pod, node: V1Node, others: readonly V1Pod[]): Rejection | undefined {
  const allocatable = (node.status?.allocatable ?? {}) as Record<string, string>;
  const out = (name: string, requested: bigint, used: bigint, capacity: bigint): Rejection => ({
    reason: `OutOf${name}`,
    message: `Node didn't have enough resource: ${name}, requested: ${requested}, used: ${used}, capacity: ${capacity}`,
  });
  const maxPods = amount('pods', allocatable['pods']);
  if (allocatable['pods'] !== undefined && BigInt(others.length) + 1n > maxPods) return out('pods', 1n, BigInt(others.length), maxPods);
  const want = podRequests(pod);
  if ([...want.values()].every((v) => v === 0n)) return undefined;
  const used: Amounts = new Map();
  for (const o of others) add(used, podRequests(o));
  // Extended resources the node does not have are cluster-level ones: not the node's to refuse (removeMissingExtendedResources).
  const scalar = [...want.keys()].filter((k) => !['cpu', 'memory', 'ephemeral-storage', 'pods'].includes(k) && allocatable[k] !== undefined);
  for (const name of ['cpu', 'memory', 'ephemeral-storage', ...scalar]) {
    const requested = want.get(name) ?? 0n;
    const capacity = amount(name, allocatable[name]);
    const inUse = used.get(name) ?? 0n;
    if (requested > 0n && requested > capacity - inUse) return out(name, requested, inUse, capacity);
  }
  return undefined;
}

/** The pod's nodeSelector and requiredDuringScheduling node affinity against the Node's labels and fields. */
function matchesNodeSelectorAndAffinity(pod: V1Pod, node: V1Node): boolean {
  const labels = node.metadata?.labels ?? {};
  for (const [k, v] of Object.entries(pod.spec?.nodeSelector ?? {})) if (labels[k] !== v) return false;
  const terms = pod.spec?.affinity?.nodeAffinity?.requiredDuringSchedulingIgnoredDuringExecution?.nodeSelectorTerms;
  if (!terms) return true;
  return matchesNodeSelectorTerms(terms, labels, { 'metadata.name': node.metadata?.name ?? '' });
}

/** MatchNodeSelectorTerms: the terms are ORed; a term with no requirement matches nothing (nodeaffinity's NodeSelector). */
export function matchesNodeSelectorTerms(terms: readonly V1NodeSelectorTerm[], labels: Record<string, string>, fields: Record<string, string>): boolean {
  return terms.some((t) => termMatches(t, labels, fields));
}

function termMatches(t: V1NodeSelectorTerm, labels: Record<string, string>, fields: Record<string, string>): boolean {
  const exprs = t.matchExpressions ?? [];
  const fieldExprs = t.matchFields ?? [];
  if (!exprs.length && !fieldExprs.length) return false;
  return exprs.every((e) => requirementMatches(e, labels)) && fieldExprs.every((e) => requirementMatches(e, fields));
}

function requirementMatches(r: V1NodeSelectorRequirement, labels: Record<string, string>): boolean {
  const has = Object.hasOwn(labels, r.key);
  const value = labels[r.key];
  const values = r.values ?? [];
  switch (r.operator) {
    case 'In':
      return has && values.includes(value!);
    case 'NotIn':
      return !has || !values.includes(value!);
    case 'Exists':
      return has;
    case 'DoesNotExist':
      return !has;
    case 'Gt':
    case 'Lt': {
      if (!has || values.length !== 1 || !/^-?\d+$/.test(value!) || !/^-?\d+$/.test(values[0]!)) return false;
      const [a, b] = [BigInt(value!), BigInt(values[0]!)];
      return r.operator === 'Gt' ? a > b : a < b;
    }
    default:
      return false;
  }
}

/** nodeports: a host port (with its protocol and host IP; 0.0.0.0 takes every IP) another admitted pod already uses. */
function hostPortConflict(pod: V1Pod, others: readonly V1Pod[]): boolean {
  const portsOf = (p: V1Pod) =>
    [...(p.spec?.initContainers ?? []), ...(p.spec?.containers ?? [])].flatMap((c) => (c.ports ?? []).filter((x) => x.hostPort).map((x) => ({ ip: x.hostIP || '0.0.0.0', protocol: x.protocol ?? 'TCP', port: x.hostPort! })));
  const used = others.flatMap(portsOf);
  return portsOf(pod).some((w) => used.some((u) => u.port === w.port && u.protocol === w.protocol && (u.ip === w.ip || u.ip === '0.0.0.0' || w.ip === '0.0.0.0')));
}

/** FindMatchingUntoleratedTaint over the node's NoExecute taints (the only effect the kubelet admits on). */
function untoleratedNoExecute(taints: readonly V1Taint[], tolerations: readonly V1Toleration[]): boolean {
  return taints.filter((t) => t.effect === 'NoExecute').some((t) => !tolerations.some((tol) => tolerates(tol, t)));
}

/** v1.Toleration.ToleratesTaint. */
function tolerates(tol: V1Toleration, t: V1Taint): boolean {
  if (tol.effect && tol.effect !== t.effect) return false;
  if (tol.key && tol.key !== t.key) return false;
  if (!tol.key && tol.operator !== 'Exists') return false;
  return tol.operator === 'Exists' || (tol.value ?? '') === (t.value ?? '');
}
