import type { MessageInitShape } from '@bufbuild/protobuf';
import type { V1ContainerState, V1ContainerStatus, V1PodCondition, V1PodStatus } from '@kubernetes/client-node';
import type { statusv1 } from '@splitlet/contracts';

/*
 * A pod status both ways between the API's shape (v1.PodStatus, as pod-sync builds it
 * and `kubectl get pod -o yaml` shows it) and the wire's (splitlet.status.v1, as
 * pod-sync hands it to status-reporter). One place, tested round trip.
 */

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

/** A resource list with its names in order, so two equal lists are equal JSON. */
const sortedList = (m: Record<string, string> | undefined): Record<string, string> | undefined => {
  const keys = Object.keys(m ?? {}).sort();
  return keys.length ? Object.fromEntries(keys.map((k) => [k, m![k]!])) : undefined;
};

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
    resources: c.resources ? (clean({ limits: sortedList(c.resources.limits), requests: sortedList(c.resources.requests) }) as V1ContainerStatus['resources']) : undefined,
    volumeMounts: c.volumeMounts.length
      ? c.volumeMounts.map((v) => clean({ name: v.name, mountPath: v.mountPath, readOnly: v.readOnly || undefined, recursiveReadOnly: v.recursiveReadOnly }))
      : undefined,
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

/** A time as Unix nanoseconds (0 for none). */
const nanos = (d: Date | string | undefined | null): bigint => (d ? BigInt(new Date(d).getTime()) * 1_000_000n : 0n);

function wireState(s: V1ContainerState | undefined): MessageInitShape<typeof statusv1.ContainerStateSchema> {
  if (s?.running) return { state: { case: 'running', value: { startedAt: nanos(s.running.startedAt) } } };
  if (s?.terminated) {
    const t = s.terminated;
    return {
      state: {
        case: 'terminated',
        value: { exitCode: t.exitCode, signal: t.signal ?? 0, reason: t.reason ?? '', message: t.message ?? '', startedAt: nanos(t.startedAt), finishedAt: nanos(t.finishedAt), containerId: t.containerID ?? '' },
      },
    };
  }
  if (s?.waiting) return { state: { case: 'waiting', value: { reason: s.waiting.reason ?? '', message: s.waiting.message ?? '' } } };
  return {};
}

function wireContainerStatus(c: V1ContainerStatus): MessageInitShape<typeof statusv1.ContainerStatusSchema> {
  return {
    name: c.name,
    state: wireState(c.state),
    lastState: wireState(c.lastState),
    ready: c.ready,
    restartCount: c.restartCount,
    image: c.image,
    imageId: c.imageID,
    containerId: c.containerID ?? '',
    ...(c.started !== undefined ? { started: c.started } : {}),
    volumeMounts: (c.volumeMounts ?? []).map((v) => ({ name: v.name, mountPath: v.mountPath, readOnly: v.readOnly ?? false, recursiveReadOnly: v.recursiveReadOnly ?? '' })),
    ...(c.resources ? { resources: { limits: quantities(c.resources.limits), requests: quantities(c.resources.requests) } } : {}),
  };
}

/** A resource list's quantities as strings (the client's Quantity type is a string on the wire). */
const quantities = (m: Record<string, unknown> | undefined): Record<string, string> => Object.fromEntries(Object.entries(m ?? {}).map(([k, v]) => [k, String(v)]));

/** The API's PodStatus for the wire (what pod-sync publishes). */
export function toWirePodStatus(s: V1PodStatus): MessageInitShape<typeof statusv1.PodStatusSchema> {
  return {
    phase: s.phase ?? '',
    reason: s.reason ?? '',
    message: s.message ?? '',
    conditions: (s.conditions ?? []).map((c) => ({
      type: c.type,
      status: c.status,
      reason: c.reason ?? '',
      message: c.message ?? '',
      lastTransitionTime: nanos(c.lastTransitionTime),
      lastProbeTime: nanos(c.lastProbeTime),
      observedGeneration: BigInt(c.observedGeneration ?? 0),
    })),
    hostIp: s.hostIP ?? '',
    hostIps: (s.hostIPs ?? []).map((i) => i.ip),
    podIp: s.podIP ?? '',
    podIps: (s.podIPs ?? []).map((i) => i.ip),
    startTime: nanos(s.startTime),
    qosClass: s.qosClass ?? '',
    initContainerStatuses: (s.initContainerStatuses ?? []).map(wireContainerStatus),
    containerStatuses: (s.containerStatuses ?? []).map(wireContainerStatus),
    ephemeralContainerStatuses: (s.ephemeralContainerStatuses ?? []).map(wireContainerStatus),
    observedGeneration: BigInt(s.observedGeneration ?? 0),
  };
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
    ephemeralContainerStatuses: s.ephemeralContainerStatuses.length ? s.ephemeralContainerStatuses.map(containerStatus) : undefined,
    observedGeneration: s.observedGeneration ? Number(s.observedGeneration) : undefined,
  });
}
