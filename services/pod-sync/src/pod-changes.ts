import type { V1Pod } from '@kubernetes/client-node';

/**
 * One JSON form for a value whether it came from a list (client-node deserializes:
 * class instances, Dates, undefined members) or a watch event (the API's raw JSON):
 * keys sorted, undefined and null left out, Dates as ISO strings.
 */
function canonical(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) => {
    if (v === null || typeof v !== 'object' || Array.isArray(v)) return v;
    const o = v as Record<string, unknown>;
    return Object.fromEntries(
      Object.keys(o)
        .filter((k) => o[k] !== undefined && o[k] !== null)
        .sort()
        .map((k) => [k, o[k]]),
    );
  });
}

const time = (t: Date | string | undefined) => (t === undefined || t === null ? undefined : new Date(t).getTime());

/**
 * The kubelet's podsDifferSemantically (pkg/kubelet/config/config.go): what a pod
 * worker syncs from — spec, labels, annotations, the deletion timestamp and grace
 * period. A change of anything else (the status the node itself writes, managed
 * fields, the resourceVersion) is a reconcile, not an update.
 */
export function podsDifferSemantically(a: V1Pod, b: V1Pod): boolean {
  const m = (p: V1Pod) => p.metadata ?? {};
  return (
    canonical(a.spec) !== canonical(b.spec) ||
    canonical(m(a).labels ?? {}) !== canonical(m(b).labels ?? {}) ||
    canonical(m(a).annotations ?? {}) !== canonical(m(b).annotations ?? {}) ||
    time(m(a).deletionTimestamp) !== time(m(b).deletionTimestamp) ||
    m(a).deletionGracePeriodSeconds !== m(b).deletionGracePeriodSeconds
  );
}

/** The conditions named by the pod's readiness gates (other controllers write them into the status). */
const gateConditions = (pod: V1Pod) => {
  const gates = new Set((pod.spec?.readinessGates ?? []).map((g) => g.conditionType));
  return canonical((pod.status?.conditions ?? []).filter((c) => gates.has(c.type)).map((c) => [c.type, c.status]));
};

/**
 * Which informer events sync a pod, as the kubelet's pod config: an added pod and a
 * semantic change do; a status-only change (most often the node's own status write
 * coming back through the watch) does not — the next periodic sync sees it — except
 * when a readiness gate's condition changed (NeedToReconcilePodReadiness).
 */
export class PodUpdateFilter {
  private readonly seen = new Map<string, V1Pod>();

  /** Records the pod's latest copy; true when it should be synced now. */
  shouldSync(pod: V1Pod): boolean {
    const uid = pod.metadata?.uid;
    if (!uid) return false;
    const before = this.seen.get(uid);
    this.seen.set(uid, pod);
    if (!before) return true;
    if (podsDifferSemantically(before, pod)) return true;
    return (pod.spec?.readinessGates?.length ?? 0) > 0 && gateConditions(before) !== gateConditions(pod);
  }

  forget(uid: string): void {
    this.seen.delete(uid);
  }
}
