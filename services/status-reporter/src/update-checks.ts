import type { V1Pod, V1PodStatus } from '@kubernetes/client-node';
import type { statusv1 } from '@splitlet/contracts';

// A PodStatusUpdate is untrusted input: anything that may publish on the node's status
// subject can send one. What status-reporter can check against the API server's copy
// of the pod (its pod cache) and the update itself is checked here, before it is
// written; what it cannot (whether the containers really ran, which only Docker knows)
// is left to the bus's permissions.

/** Why an update was refused; each is counted (PodStatusManager.rejected). */
export type Rejection =
  /** No pod UID, name, namespace or status. */
  | 'no-identity'
  /** A version further ahead of now than a producer's clock can be (see MAX_VERSION_AHEAD_MS). */
  | 'version-ahead'
  /** The pod cache holds no such pod bound to this node (after waiting for it to show one). */
  | 'not-bound'
  /** The UID is a pod of this node, but of another name or namespace. */
  | 'identity-mismatch'
  /** `terminated` for a pod the API server is not deleting (after waiting for the pod cache to show a deletion). */
  | 'terminated-not-deleting'
  /** A container that may not restart shown leaving the terminated state (the kubelet's checkContainerStateTransition). */
  | 'illegal-container-transition';

export const REJECTIONS: readonly Rejection[] = ['no-identity', 'version-ahead', 'not-bound', 'identity-mismatch', 'terminated-not-deleting', 'illegal-container-transition'];

/**
 * How far ahead of status-reporter's clock a version may be. pod-sync stamps each
 * status with max(its clock in µs, last + 1): on one node both services read one
 * clock, so a genuine version is never ahead by more than the few µs of a burst. A
 * minute leaves room for services of one node run in separate VMs with some clock
 * difference, and bounds what a forged version can do: it is newest for at most
 * this long, where one of 2^64 - 1 held every later status off until a restart.
 */
export const MAX_VERSION_AHEAD_MS = 60_000;

export function versionTooFarAhead(version: bigint, nowMs: number): boolean {
  return version > BigInt(Math.floor(nowMs) + MAX_VERSION_AHEAD_MS) * 1000n;
}

/** Whether the update has what every write needs: the pod's identity and a status. */
export function hasIdentity(u: statusv1.PodStatusUpdate): u is statusv1.PodStatusUpdate & { status: statusv1.PodStatus } {
  return Boolean(u.podUid && u.name && u.namespace && u.status);
}

/** The UID must be the pod's of that name: a UID never moves to another pod. */
export function identityMismatch(u: statusv1.PodStatusUpdate, pod: V1Pod): boolean {
  return pod.metadata?.name !== u.name || pod.metadata?.namespace !== u.namespace;
}

/**
 * `terminated` (complete the deletion) is only for a pod being deleted: the kubelet's
 * status manager deletes only a pod with a deletionTimestamp (canBeDeleted); a
 * finished pod that nobody deletes stays. The pod cache may not show a deletion yet
 * that pod-sync's copy did, so the caller waits for it before it refuses.
 */
export function terminatedButNotDeleting(u: statusv1.PodStatusUpdate, pod: V1Pod): boolean {
  return u.terminated && !pod.metadata?.deletionTimestamp;
}

const isTerminal = (phase: string | undefined) => phase === 'Succeeded' || phase === 'Failed';

/**
 * The kubelet's mergePodStatus: a pod does not move into a terminal phase while its
 * containers could still run — the phase, reason and message stay the old ones (the
 * rest of the status is written). The kubelet asks its pod worker; here the update's
 * own container statuses are what is known of the containers: a running one, or a
 * container of the pod's spec the update says nothing about (pod-sync reports every
 * one, as generateAPIPodStatus does), holds the phase. Answers the update to write.
 */
export function holdTerminalPhase(
  status: statusv1.PodStatus,
  old: Pick<V1PodStatus, 'phase' | 'reason' | 'message' | 'containerStatuses' | 'initContainerStatuses'>,
  pod: V1Pod,
  rejected = false,
): { status: statusv1.PodStatus; held: boolean } {
  if (!isTerminal(status.phase) || isTerminal(old.phase)) return { status, held: false };
  // Refused at admission (the kubelet's rejectPod: no pod worker, so nothing could run):
  // believed only while neither the update nor the status held shows any container.
  const noContainerEver = !status.containerStatuses.length && !status.initContainerStatuses.length && !old.containerStatuses?.length && !old.initContainerStatuses?.length;
  if (rejected && noContainerEver) return { status, held: false };
  const all = [...status.initContainerStatuses, ...status.containerStatuses];
  const running = all.some((c) => c.state?.state.case === 'running');
  const reported = new Set(status.containerStatuses.map((c) => c.name));
  const unaccounted = (pod.spec?.containers ?? []).some((c) => !reported.has(c.name));
  if (!running && !unaccounted) return { status, held: false };
  return { status: { ...status, phase: old.phase || 'Pending', reason: old.reason ?? '', message: old.message ?? '' }, held: true };
}

/**
 * The kubelet's checkContainerStateTransition (its status manager aborts such an
 * update): unless the pod restarts always, a container the old status shows
 * terminated — successfully, under OnFailure — may not be shown running or waiting
 * again. `old` is the status last written (or the API server's).
 */
export function illegalContainerTransition(status: statusv1.PodStatus, old: V1PodStatus, pod: V1Pod): boolean {
  const policy = pod.spec?.restartPolicy ?? 'Always';
  if (policy === 'Always') return false;
  return (old.containerStatuses ?? []).some((o) => {
    const t = o.state?.terminated;
    if (!t || (t.exitCode !== 0 && policy === 'OnFailure')) return false;
    return status.containerStatuses.some((n) => n.name === o.name && n.state?.state.case !== 'terminated');
  });
}
