import type { V1ContainerStatus, V1Pod, V1PodCondition, V1PodStatus } from '@kubernetes/client-node';
import { type PodStatusFeatures, withDefaultFeatures } from './features';
import { findContainerStatus, hasAnyRegularContainerStarted, isRestartableInitContainer, type PodPhase } from './phase';
import {
  ContainersNotInitialized,
  ContainersNotReady,
  PodCompleted,
  PodFailed,
  ReadinessGatesNotReady,
  UnknownContainerStatuses,
} from './reasons';

/** Pod condition types the kubelet owns and generates (v1.PodConditionType). */
export const PodScheduled = 'PodScheduled';
export const PodReadyToStartContainers = 'PodReadyToStartContainers';
export const PodInitialized = 'Initialized';
export const PodReady = 'Ready';
export const ContainersReady = 'ContainersReady';
export const DisruptionTarget = 'DisruptionTarget';

type ConditionStatus = 'True' | 'False';

/**
 * A condition with observedGeneration set to the pod's generation. Upstream
 * podutil.CalculatePodConditionObservedGeneration returns pod.Generation whenever
 * PodObservedGenerationTracking is on, and that gate is GA (locked on) since 1.35.
 * Go leaves 0 (omitted from JSON) for a pod without a generation; so does this.
 */
function condition(pod: V1Pod, type: string, status: ConditionStatus, reason?: string, message?: string): V1PodCondition {
  const c: V1PodCondition = { type, status };
  const generation = pod.metadata?.generation;
  if (generation) c.observedGeneration = generation;
  if (reason) c.reason = reason;
  if (message) c.message = message;
  return c;
}

/**
 * PodScheduled: True on every status the kubelet generates (generateAPIPodStatus):
 * a pod the kubelet runs is scheduled, by the scheduler or by its nodeName.
 */
export function generatePodScheduledCondition(pod: V1Pod): V1PodCondition {
  return condition(pod, PodScheduled, 'True');
}

/** Go's fmt "%s" of a []string: "[a b]". */
const goList = (names: readonly string[]): string => `[${names.join(' ')}]`;

/** generateContainersReadyConditionForTerminalPhase: never ready once Succeeded or Failed. */
function containersReadyForTerminalPhase(pod: V1Pod, phase: PodPhase): V1PodCondition {
  return condition(pod, ContainersReady, 'False', phase === 'Failed' ? PodFailed : phase === 'Succeeded' ? PodCompleted : undefined);
}

/**
 * ContainersReady: True when every regular container and every sidecar reports ready.
 * Upstream GenerateContainersReadyCondition (pkg/kubelet/status/generate.go).
 * `containerStatuses` is init and regular statuses together; undefined means "not known"
 * (Go's nil), which differs from an empty list.
 */
export function generateContainersReadyCondition(
  pod: V1Pod,
  containerStatuses: readonly V1ContainerStatus[] | undefined,
  phase: PodPhase,
): V1PodCondition {
  if (containerStatuses === undefined) return condition(pod, ContainersReady, 'False', UnknownContainerStatuses);
  const unknown: string[] = [];
  const unready: string[] = [];
  const check = (name: string): void => {
    const status = findContainerStatus(containerStatuses, name);
    if (!status) unknown.push(name);
    else if (!status.ready) unready.push(name);
  };
  for (const c of pod.spec?.initContainers ?? []) if (isRestartableInitContainer(c)) check(c.name);
  for (const c of pod.spec?.containers ?? []) check(c.name);

  if (phase === 'Succeeded' && unknown.length === 0) return containersReadyForTerminalPhase(pod, phase);
  // A failed pod's containers may still be terminating: never report them ready.
  if (phase === 'Failed') return containersReadyForTerminalPhase(pod, phase);

  const messages: string[] = [];
  if (unknown.length > 0) messages.push(`containers with unknown status: ${goList(unknown)}`);
  if (unready.length > 0) messages.push(`containers with unready status: ${goList(unready)}`);
  if (messages.length > 0) return condition(pod, ContainersReady, 'False', ContainersNotReady, messages.join(', '));
  return condition(pod, ContainersReady, 'True');
}

/**
 * Ready: ContainersReady, and every readiness gate's condition True. `conditions` are
 * the pod's conditions as generated so far (readiness-gate conditions are written by
 * other controllers and preserved by the kubelet).
 * Upstream GeneratePodReadyCondition.
 */
export function generatePodReadyCondition(
  pod: V1Pod,
  conditions: readonly V1PodCondition[] | undefined,
  containerStatuses: readonly V1ContainerStatus[] | undefined,
  phase: PodPhase,
): V1PodCondition {
  const containersReady = generateContainersReadyCondition(pod, containerStatuses, phase);
  // Not ready containers: Ready mirrors ContainersReady's status, reason and message.
  if (containersReady.status !== 'True') {
    return condition(pod, PodReady, 'False', containersReady.reason, containersReady.message);
  }
  const messages: string[] = [];
  for (const gate of pod.spec?.readinessGates ?? []) {
    const c = conditions?.find((x) => x.type === gate.conditionType);
    if (!c) {
      messages.push(`corresponding condition of pod readiness gate "${gate.conditionType}" does not exist.`);
    } else if (c.status !== 'True') {
      messages.push(`the status of pod readiness gate "${gate.conditionType}" is not "True", but ${c.status}`);
    }
  }
  if (messages.length > 0) return condition(pod, PodReady, 'False', ReadinessGatesNotReady, messages.join(', '));
  return condition(pod, PodReady, 'True');
}

/** isInitContainerInitialized: a sidecar once started, a regular init container once ready (exited 0). */
const isInitContainerInitialized = (restartable: boolean, status: V1ContainerStatus): boolean =>
  restartable ? status.started === true : status.ready;

export interface InitializedOptions {
  /** The pod's previous status (the status manager's, else the API's). */
  readonly oldStatus?: V1PodStatus;
  readonly features?: Partial<PodStatusFeatures>;
}

/**
 * Initialized: every regular init container has completed and every sidecar has
 * started; once any regular container has run, the pod stays initialized even while a
 * sidecar restarts. Upstream GeneratePodInitializedCondition.
 */
export function generatePodInitializedCondition(
  pod: V1Pod,
  containerStatuses: readonly V1ContainerStatus[] | undefined,
  phase: PodPhase,
  options: InitializedOptions = {},
): V1PodCondition {
  const initContainers = pod.spec?.initContainers ?? [];
  if (containerStatuses === undefined && initContainers.length > 0) {
    return condition(pod, PodInitialized, 'False', UnknownContainerStatuses);
  }
  const unknown: string[] = [];
  const incomplete: string[] = [];
  for (const c of initContainers) {
    const status = findContainerStatus(containerStatuses, c.name);
    if (!status) unknown.push(c.name);
    else if (!isInitContainerInitialized(isRestartableInitContainer(c), status)) incomplete.push(c.name);
  }

  if (phase === 'Succeeded' && unknown.length === 0) return condition(pod, PodInitialized, 'True', PodCompleted);
  if (hasAnyRegularContainerStarted(pod.spec, containerStatuses)) return condition(pod, PodInitialized, 'True');

  const messages: string[] = [];
  if (unknown.length > 0) messages.push(`containers with unknown status: ${goList(unknown)}`);
  if (incomplete.length > 0) messages.push(`containers with incomplete status: ${goList(incomplete)}`);
  if (messages.length > 0) {
    // During an in-place pod restart init containers go back to waiting; a pod once
    // initialized is not un-initialized.
    const wasInitialized = options.oldStatus?.conditions?.some((c) => c.type === PodInitialized && c.status === 'True');
    if (withDefaultFeatures(options.features).restartAllContainersOnContainerExits && wasInitialized) {
      return condition(pod, PodInitialized, 'True');
    }
    return condition(pod, PodInitialized, 'False', ContainersNotInitialized, messages.join(', '));
  }
  return condition(pod, PodInitialized, 'True');
}

/**
 * One pod sandbox as the runtime reports it (the fields of CRI PodSandboxStatus that
 * PodSandboxChanged reads).
 */
export interface PodSandboxStatus {
  /** CRI state SANDBOX_READY. */
  readonly ready: boolean;
  /**
   * The sandbox's network namespace mode (CRI NamespaceMode): NODE when it shares the
   * host's. Unset reads as POD, the protobuf zero value, as upstream's getters do.
   */
  readonly networkNamespace?: 'POD' | 'CONTAINER' | 'NODE' | 'TARGET';
  /** The sandbox IP; undefined when the runtime reported no network status at all. */
  readonly ip?: string;
}

/** Why the kubelet would create a new sandbox; undefined when the current one is usable. */
export type SandboxChange = 'NoPodSandbox' | 'MultipleSandboxesReady' | 'SandboxNotReady' | 'NetworkNamespaceChanged' | 'NoIPAddress';

/**
 * Whether the pod needs a new sandbox. Upstream PodSandboxChanged
 * (pkg/kubelet/kuberuntime/util/util.go); `sandboxes` newest first, as the runtime
 * manager sorts them.
 */
export function podSandboxChange(pod: V1Pod, sandboxes: readonly PodSandboxStatus[]): SandboxChange | undefined {
  const latest = sandboxes[0];
  if (!latest) return 'NoPodSandbox';
  if (sandboxes.filter((s) => s.ready).length > 1) return 'MultipleSandboxesReady';
  if (!latest.ready) return 'SandboxNotReady';
  const wanted = pod.spec?.hostNetwork ? 'NODE' : 'POD';
  if ((latest.networkNamespace ?? 'POD') !== wanted) return 'NetworkNamespaceChanged';
  if (!pod.spec?.hostNetwork && latest.ip === '') return 'NoIPAddress';
  return undefined;
}

/**
 * PodReadyToStartContainers: True once a ready sandbox with networking configured
 * exists, i.e. the kubelet would not create a new one.
 * Upstream GeneratePodReadyToStartContainersCondition.
 */
export function generatePodReadyToStartContainersCondition(pod: V1Pod, sandboxes: readonly PodSandboxStatus[]): V1PodCondition {
  return condition(pod, PodReadyToStartContainers, podSandboxChange(pod, sandboxes) === undefined ? 'True' : 'False');
}

/**
 * Condition types whose lastTransitionTime the status manager maintains
 * (updateStatusInternal in pkg/kubelet/status/status_manager.go).
 */
const transitionTracked = new Set([ContainersReady, PodReady, PodInitialized, PodReadyToStartContainers, PodScheduled, DisruptionTarget]);

/**
 * Stamps lastTransitionTime on freshly generated conditions: the old time when the
 * condition's status did not change, `now` when it did or the condition is new.
 * Conditions of other types are returned as they are. Upstream
 * updateLastTransitionTime (pkg/kubelet/status/status_manager.go), applied to each
 * tracked type. Pure: returns new objects.
 */
export function mergeConditions(
  oldConditions: readonly V1PodCondition[] | undefined,
  newConditions: readonly V1PodCondition[],
  now: Date,
): V1PodCondition[] {
  return newConditions.map((c) => {
    if (!transitionTracked.has(c.type)) return { ...c };
    const old = oldConditions?.find((o) => o.type === c.type);
    const lastTransitionTime = old && old.status === c.status ? old.lastTransitionTime : now;
    const merged: V1PodCondition = { ...c };
    if (lastTransitionTime) merged.lastTransitionTime = lastTransitionTime;
    else delete merged.lastTransitionTime;
    return merged;
  });
}
