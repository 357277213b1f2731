import { create, type MessageInitShape } from '@bufbuild/protobuf';
import type { V1ContainerStatus, V1Pod } from '@kubernetes/client-node';
import { statusv1 } from '@splitlet/contracts';
import { ContainerStatusUnknown, toKubePodStatus } from '@splitlet/pod-status';

/**
 * A container's lastState is its instance before the latest one (or, in
 * CrashLoopBackOff, the latest itself). The container garbage collection keeps only
 * the newest dead instance per container, so once a container exits for good after
 * earlier failures (an init container that failed and then succeeded; an OnFailure
 * container that finally exits 0), the instance its lastState came from is collected.
 * The kubelet's status of such a container loses its lastState then, or stays frozen
 * with the pod's; pod-sync computes the status again from the runtime at every sync,
 * so it keeps the lastState it already showed instead: when the status shown names
 * the same latest instance and a lastState of another one, and the runtime no longer
 * has that other one, the lastState shown stands.
 */
export function keepCollectedLastState(computed: V1ContainerStatus, shown: V1ContainerStatus | undefined): V1ContainerStatus {
  const empty = !computed.lastState?.terminated && !computed.lastState?.running && !computed.lastState?.waiting;
  if (!computed.containerID || !empty || shown?.containerID !== computed.containerID) return computed;
  const last = shown.lastState?.terminated;
  if (!last?.containerID || last.containerID === computed.containerID) return computed;
  return { ...computed, lastState: { terminated: last } };
}

/**
 * convertToAPIContainerStatuses for a container the runtime has no instance of (the
 * disk-pressure reclaim removes a finished pod's dead containers; someone may remove a
 * container by hand):
 * - shown terminated: that status stays — unless a start of the container is failing
 *   now (a waiting reason other than the default: the reason cache), which shows
 *   waiting with the terminated state as the last;
 * - otherwise the restart count and last termination shown are kept; and a container
 *   shown running that has vanished without a known end gets the kubelet's inferred
 *   termination (ContainerStatusUnknown, exit 137) and, the pod not being deleted, one
 *   more restart.
 */
export function keepStatusOfRemoved(
  computed: V1ContainerStatus,
  shown: V1ContainerStatus | undefined,
  opts: { defaultWaitingReason: string; deleting: boolean },
): V1ContainerStatus {
  if (computed.containerID || !shown) return computed;
  const failing = computed.state?.waiting?.reason !== undefined && computed.state.waiting.reason !== opts.defaultWaitingReason;
  if (shown.state?.terminated) return failing ? { ...shown, state: computed.state, lastState: { terminated: shown.state.terminated } } : shown;
  const kept = { ...computed, restartCount: shown.restartCount, lastState: shown.lastState ?? {} };
  if (!shown.state?.running || failing || kept.lastState.terminated) return kept;
  return {
    ...kept,
    lastState: { terminated: { exitCode: 137, reason: ContainerStatusUnknown, message: 'The container could not be located when the pod was deleted.  The container used to be Running' } },
    restartCount: shown.restartCount + (opts.deleting ? 0 : 1),
  };
}

/**
 * The container statuses (init and app, by name) the pod shows: what this pod-sync
 * last handed to status-reporter, else what the API server has (after a restart).
 */
export function shownContainerStatuses(pod: V1Pod, handedOver: MessageInitShape<typeof statusv1.PodStatusSchema> | undefined): Map<string, V1ContainerStatus> {
  const status = handedOver ? toKubePodStatus(create(statusv1.PodStatusSchema, handedOver)) : pod.status;
  return new Map([...(status?.initContainerStatuses ?? []), ...(status?.containerStatuses ?? [])].map((s) => [s.name, s]));
}
