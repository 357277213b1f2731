import type { V1ContainerState, V1ContainerStatus, V1PodCondition, V1PodStatus } from '@kubernetes/client-node';
import type { statusv1 } from '@splitlet/contracts';

/** Unix nanoseconds as metav1.Time (RFC 3339, second precision); undefined for 0. */
export function kubeTime(nanos: bigint): string | undefined {
  if (nanos <= 0n) return undefined;
  return new Date(Number(nanos / 1_000_000_000n) * 1000).toISOString().replace('.000Z', 'Z');
}

const clean = <T extends object>(o: T): T => Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined && v !== '')) as T;

function state(s: statusv1.ContainerState | undefined): V1ContainerState {
  const v = s?.state;
  if (v?.case === 'waiting') return { waiting: clean({ reason: v.value.reason, message: v.value.message }) };
  if (v?.case === 'running') return { running: clean({ startedAt: kubeTime(v.value.startedAt) as unknown as Date }) };
  if (v?.case === 'terminated') {
    const t = v.value;
    return {
      terminated: clean({
        exitCode: t.exitCode,
        signal: t.signal || undefined,
        reason: t.reason,
        message: t.message,
        startedAt: kubeTime(t.startedAt) as unknown as Date,
        finishedAt: kubeTime(t.finishedAt) as unknown as Date,
        containerID: t.containerId,
      }),
    };
  }
  return {};
}

function containerStatus(c: statusv1.ContainerStatus): V1ContainerStatus {
  return clean({
    name: c.name,
    state: state(c.state),
    lastState: state(c.lastState),
    ready: c.ready,
    restartCount: c.restartCount,
    image: c.image,
    imageID: c.imageId,
    containerID: c.containerId,
    started: c.started,
  });
}

function condition(c: statusv1.PodCondition): V1PodCondition {
  return clean({
    type: c.type,
    status: c.status,
    reason: c.reason,
    message: c.message,
    lastTransitionTime: kubeTime(c.lastTransitionTime) as unknown as Date,
    lastProbeTime: (kubeTime(c.lastProbeTime) ?? null) as unknown as Date,
    observedGeneration: c.observedGeneration ? Number(c.observedGeneration) : undefined,
  });
}

/**
 * The contract's PodStatus as the API's JSON (what `kubectl get pod -o yaml`
 * shows). Times are strings already: the object goes straight into a patch body.
 */
export function toKubePodStatus(s: statusv1.PodStatus): V1PodStatus {
  return clean({
    phase: s.phase,
    conditions: s.conditions.map(condition),
    message: s.message,
    reason: s.reason,
    hostIP: s.hostIp,
    hostIPs: s.hostIps.length ? s.hostIps.map((ip) => ({ ip })) : undefined,
    podIP: s.podIp,
    podIPs: s.podIps.length ? s.podIps.map((ip) => ({ ip })) : undefined,
    startTime: kubeTime(s.startTime) as unknown as Date,
    qosClass: s.qosClass,
    initContainerStatuses: s.initContainerStatuses.length ? s.initContainerStatuses.map(containerStatus) : undefined,
    containerStatuses: s.containerStatuses.map(containerStatus),
    observedGeneration: s.observedGeneration ? Number(s.observedGeneration) : undefined,
  });
}
