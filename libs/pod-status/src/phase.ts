import type { V1Container, V1ContainerStatus, V1Pod, V1PodSpec } from '@kubernetes/client-node';
import { type PodStatusFeatures, withDefaultFeatures } from './features';
import { RestartingAllContainers } from './reasons';

/** v1.PodPhase. getPhase never returns Unknown; it is here for completeness of the type. */
export type PodPhase = 'Pending' | 'Running' | 'Succeeded' | 'Failed' | 'Unknown';

/** Annotation the kubelet stamps with a pod's config source (kubetypes.ConfigSourceAnnotationKey). */
export const ConfigSourceAnnotationKey = 'kubernetes.io/config.source';

/**
 * A sidecar: an init container with restartPolicy Always.
 * Upstream podutil.IsRestartableInitContainer (pkg/api/v1/pod/util.go).
 */
export const isRestartableInitContainer = (container: V1Container | undefined): boolean =>
  container?.restartPolicy === 'Always';

/**
 * A static pod (from a file or URL, not the API server). Upstream kubetypes.IsStaticPod:
 * the config-source annotation is present and is not "api".
 */
export function isStaticPod(pod: V1Pod): boolean {
  const source = pod.metadata?.annotations?.[ConfigSourceAnnotationKey];
  return source !== undefined && source !== 'api';
}

/**
 * The first status with this name. Upstream podutil.GetContainerStatus: a linear
 * search that returns the first match, so order matters only for duplicate names.
 */
export const findContainerStatus = (
  statuses: readonly V1ContainerStatus[] | undefined,
  name: string,
): V1ContainerStatus | undefined => statuses?.find((s) => s.name === name);

/**
 * Whether a container that exited with this code will be started again: container
 * restartPolicyRules first (the first rule whose exit codes match decides if its action
 * restarts), then the container's restartPolicy, then the pod's (default Always).
 * Upstream podutil.ContainerShouldRestart and findMatchingContainerRestartRule.
 */
export function containerShouldRestart(
  container: V1Container,
  spec: V1PodSpec,
  exitCode: number,
  features?: Partial<PodStatusFeatures>,
): boolean {
  if (container.restartPolicy !== undefined) {
    const rule = (container.restartPolicyRules ?? []).find((r) => {
      if (!r.exitCodes) return false;
      const matched = (r.exitCodes.values ?? []).includes(exitCode);
      if (r.exitCodes.operator === 'In') return matched;
      if (r.exitCodes.operator === 'NotIn') return !matched;
      return false;
    });
    if (rule?.action === 'Restart') return true;
    // A RestartAllContainers rule restarts this container too (with every other one).
    // Inferred from upstream's TestPodPhaseWithRestartAllContainers; the v1.36 source of
    // this branch was not available to port from (see the report).
    if (rule?.action === 'RestartAllContainers' && withDefaultFeatures(features).restartAllContainersOnContainerExits) return true;
    // Any other action falls through to the container policy.
    switch (container.restartPolicy) {
      case 'Always':
        return true;
      case 'OnFailure':
        return exitCode !== 0;
      case 'Never':
        return false;
      default:
      // An unknown container policy falls back to the pod's, as upstream does.
    }
  }
  switch (spec.restartPolicy) {
    case 'OnFailure':
      return exitCode !== 0;
    case 'Never':
      return false;
    default:
      // Always, and the API default when unset.
      return true;
  }
}

/**
 * Whether any regular container has a running or terminated state, i.e. the pod got
 * past initialization at some point. Upstream kubecontainer.HasAnyRegularContainerStarted.
 */
export function hasAnyRegularContainerStarted(
  spec: V1PodSpec | undefined,
  statuses: readonly V1ContainerStatus[] | undefined,
): boolean {
  const names = new Set((spec?.containers ?? []).map((c) => c.name));
  return (statuses ?? []).some((s) => names.has(s.name) && (s.state?.running !== undefined || s.state?.terminated !== undefined));
}

export interface PodPhaseOptions {
  /**
   * Whether a regular container of the pod's *current* sandbox has started. The kubelet
   * passes kubecontainer.HasAnyActiveRegularContainerStarted(runtime status): with it, a
   * restarting sidecar does not send an initialized pod back to Pending, while a pod whose
   * sandbox was re-created is initialized again. Defaults to hasAnyRegularContainerStarted
   * over the given statuses, which cannot tell a re-created sandbox apart.
   */
  readonly podHasInitialized?: boolean;
  readonly features?: Partial<PodStatusFeatures>;
}

/**
 * The pod phase from its container statuses: the kubelet's getPhase
 * (pkg/kubelet/kubelet_pods.go, v1.36).
 *
 * Upstream takes one list, `append(ContainerStatuses, InitContainerStatuses)` as
 * generateAPIPodStatus builds it, and looks every container up by name in it; this
 * port builds the same list in the same order.
 *
 * podIsTerminal: the pod worker has decided the pod is done (deleted, evicted, or all
 * containers finished for good); then a non-static pod whose containers are all
 * stopped is Succeeded or Failed whatever its restart policy.
 */
export function podPhase(
  pod: V1Pod,
  containerStatuses: readonly V1ContainerStatus[] | undefined,
  initContainerStatuses: readonly V1ContainerStatus[] | undefined,
  podIsTerminal = false,
  options: PodPhaseOptions = {},
): PodPhase {
  const spec: V1PodSpec = pod.spec ?? { containers: [] };
  const info = [...(containerStatuses ?? []), ...(initContainerStatuses ?? [])];
  const features = withDefaultFeatures(options.features);
  const podHasInitialized = options.podHasInitialized ?? hasAnyRegularContainerStarted(spec, info);

  // A container killed for an in-place whole-pod restart will run again, whatever its policy.
  const restartable = (container: V1Container, exitCode: number, reason: string | undefined): boolean =>
    containerShouldRestart(container, spec, exitCode, features) ||
    (features.restartAllContainersOnContainerExits && reason === RestartingAllContainers);

  let pendingRestartableInitContainers = 0;
  let pendingRegularInitContainers = 0;
  let failedInitialization = 0;
  let failedInitializationNotRestartable = 0;

  // Regular init containers: each must have exited 0 before the pod can leave Pending.
  for (const container of spec.initContainers ?? []) {
    if (isRestartableInitContainer(container)) continue; // sidecars are counted below
    const status = findContainerStatus(info, container.name);
    const state = status?.state;
    if (!status) {
      pendingRegularInitContainers++;
    } else if (state?.running) {
      pendingRegularInitContainers++;
    } else if (state?.terminated) {
      const { exitCode, reason } = state.terminated;
      if (exitCode !== 0) {
        failedInitialization++;
        if (features.containerRestartRules && !restartable(container, exitCode, reason)) failedInitializationNotRestartable++;
      }
    } else if (state?.waiting) {
      const last = status.lastState?.terminated;
      if (last) {
        if (last.exitCode !== 0) {
          failedInitialization++;
          // Upstream evaluates this one without checking ContainerRestartRules; it only
          // matters when that gate is on, so the result is the same.
          if (!restartable(container, last.exitCode, last.reason)) failedInitializationNotRestartable++;
        }
      } else {
        pendingRegularInitContainers++;
      }
    } else {
      pendingRegularInitContainers++;
    }
  }

  // Counters shared by sidecars and regular containers.
  let unknown = 0;
  let running = 0;
  let waiting = 0;
  let stopped = 0;
  let stoppedNotRestartable = 0;
  let succeeded = 0;

  // Sidecars: running ones count as running; exited ones are ignored (they restart, or
  // are stopped on purpose once the regular containers are done).
  for (const container of spec.initContainers ?? []) {
    if (!isRestartableInitContainer(container)) continue;
    const status = findContainerStatus(info, container.name);
    const state = status?.state;
    if (!status) {
      unknown++;
    } else if (state?.running) {
      if (status.started !== true) pendingRestartableInitContainers++;
      running++;
    } else if (state?.terminated) {
      // not taken into account for the phase
    } else if (state?.waiting) {
      if (!status.lastState?.terminated) {
        pendingRestartableInitContainers++;
        waiting++;
      }
    } else {
      pendingRestartableInitContainers++;
      unknown++;
    }
  }

  for (const container of spec.containers) {
    const status = findContainerStatus(info, container.name);
    const state = status?.state;
    if (!status) {
      unknown++;
    } else if (state?.running) {
      running++;
    } else if (state?.terminated) {
      stopped++;
      const { exitCode, reason } = state.terminated;
      if (features.containerRestartRules && !restartable(container, exitCode, reason)) stoppedNotRestartable++;
      if (exitCode === 0) succeeded++;
    } else if (state?.waiting) {
      const last = status.lastState?.terminated;
      if (last) {
        // Waiting to be restarted after an exit (back-off): counts as stopped.
        stopped++;
        if (features.containerRestartRules && !restartable(container, last.exitCode, last.reason)) stoppedNotRestartable++;
      } else {
        waiting++;
      }
    } else {
      unknown++;
    }
  }

  if (features.containerRestartRules) {
    if (failedInitializationNotRestartable > 0) return 'Failed';
  } else if (failedInitialization > 0 && spec.restartPolicy === 'Never') {
    return 'Failed';
  }

  // An initialized pod whose sidecar restarts must not fall back to Pending: the
  // regular containers have run.
  if (pendingRegularInitContainers > 0 || (pendingRestartableInitContainers > 0 && !podHasInitialized) || waiting > 0) {
    return 'Pending'; // one or more containers has not been started
  }
  if (running > 0 && unknown === 0) return 'Running'; // all started, at least one running
  if (running === 0 && stopped > 0 && unknown === 0) {
    // A terminal pod's containers are not restarted, whatever the policy.
    // Upstream TODO(#116484): static pods do not get a terminal phase yet.
    if (podIsTerminal && !isStaticPod(pod)) return stopped === succeeded ? 'Succeeded' : 'Failed';
    if (features.containerRestartRules) {
      if (stopped !== stoppedNotRestartable) return 'Running'; // at least one is restarting
      return stopped === succeeded ? 'Succeeded' : 'Failed';
    }
    if (spec.restartPolicy === 'Always') return 'Running'; // all restarting
    if (stopped === succeeded) return 'Succeeded';
    if (spec.restartPolicy === 'Never') return 'Failed';
    return 'Running'; // OnFailure: at least one failed and is restarting
  }
  return 'Pending';
}

/** A phase with the reason and message that went with it. */
export interface PhaseWords {
  readonly phase?: string | undefined;
  readonly reason?: string | undefined;
  readonly message?: string | undefined;
}

/**
 * The reason and message of a new status (generateAPIPodStatus, v1.36): those of the old
 * status while the phase stays the same, none with a new phase. `mine` is the status this
 * worker generated last (the kubelet's status manager cache), `api` the pod's status as
 * the informer holds it: the old status when there is no `mine`, and where the kubelet
 * takes a reason or message the old status lacks (another writer's).
 *
 * One departure: the informer's copy can lag behind the writes and still show the
 * previous phase — Running with another writer's reason, while the phase now is Failed.
 * The kubelet would carry that reason into the new phase when the copy is that late;
 * here a copy showing another phase gives no reason or message.
 */
export function phaseReasonAndMessage(phase: string, mine: PhaseWords | undefined, api: PhaseWords | undefined): { reason: string; message: string } {
  const old = mine ?? api;
  if (phase !== old?.phase) return { reason: '', message: '' };
  const other = api?.phase === phase ? api : undefined;
  return { reason: mine?.reason || other?.reason || '', message: mine?.message || other?.message || '' };
}
