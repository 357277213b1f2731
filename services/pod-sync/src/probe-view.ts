import type { V1Container, V1ContainerStatus, V1Pod, V1Probe } from '@kubernetes/client-node';
import { create, type MessageInitShape } from '@bufbuild/protobuf';
import { PodProbeViewSchema, type ProbeSchema, type PodProbeView } from '@splitlet/contracts';

type ProbeInit = MessageInitShape<typeof ProbeSchema>;

/** A port by number or by name (intstr). */
const portOf = (p: number | string | undefined): { port: number; portName: string } =>
  typeof p === 'number' ? { port: p, portName: '' } : /^\d+$/.test(p ?? '') ? { port: Number(p), portName: '' } : { port: 0, portName: p ?? '' };

/**
 * v1.Probe on the wire, with the API server's defaults (period 10, timeout 1, success 1,
 * failure 3) applied where a field is unset, so the prober never guesses them.
 */
export function toWireProbe(p: V1Probe | undefined): ProbeInit | undefined {
  if (!p) return undefined;
  let handler: ProbeInit['handler'] = { case: undefined };
  if (p.exec) handler = { case: 'exec', value: { command: p.exec.command ?? [] } };
  else if (p.httpGet)
    handler = {
      case: 'httpGet',
      value: {
        host: p.httpGet.host ?? '',
        scheme: p.httpGet.scheme ?? 'HTTP',
        path: p.httpGet.path ?? '',
        ...portOf(p.httpGet.port as number | string | undefined),
        httpHeaders: (p.httpGet.httpHeaders ?? []).map((h) => ({ name: h.name, value: h.value })),
      },
    };
  else if (p.tcpSocket) handler = { case: 'tcpSocket', value: { host: p.tcpSocket.host ?? '', ...portOf(p.tcpSocket.port as number | string | undefined) } };
  else if (p.grpc) handler = { case: 'grpc', value: { port: p.grpc.port, ...(p.grpc.service !== undefined ? { service: p.grpc.service } : {}) } };
  return {
    handler,
    initialDelaySeconds: p.initialDelaySeconds ?? 0,
    timeoutSeconds: p.timeoutSeconds || 1,
    periodSeconds: p.periodSeconds || 10,
    successThreshold: p.successThreshold || 1,
    failureThreshold: p.failureThreshold || 3,
    ...(p.terminationGracePeriodSeconds !== undefined ? { terminationGracePeriodSeconds: BigInt(p.terminationGracePeriodSeconds) } : {}),
  };
}

const hasProbe = (c: V1Container) => Boolean(c.livenessProbe || c.readinessProbe || c.startupProbe);

/**
 * What the prober needs of a pod: its IP, restart policy, whether it is terminating,
 * and for each probed container (app containers and sidecars) its probes, ports and
 * its latest instance as pod-sync last saw it. Undefined when nothing in it is probed.
 */
export function podProbeView(pod: V1Pod, statuses: V1ContainerStatus[], podIP: string, hostIP: string, version: bigint): PodProbeView | undefined {
  const probed = [
    ...(pod.spec?.initContainers ?? []).filter((c) => c.restartPolicy === 'Always').map((c) => ({ c, sidecar: true })),
    ...(pod.spec?.containers ?? []).map((c) => ({ c, sidecar: false })),
  ].filter(({ c }) => hasProbe(c));
  if (!probed.length) return undefined;
  return create(PodProbeViewSchema, {
    podUid: pod.metadata!.uid!,
    name: pod.metadata!.name!,
    namespace: pod.metadata!.namespace!,
    podIp: podIP,
    hostIp: hostIP,
    restartPolicy: pod.spec?.restartPolicy ?? 'Always',
    terminating: Boolean(pod.metadata?.deletionTimestamp),
    version,
    containers: probed.map(({ c, sidecar }) => {
      const st = statuses.find((s) => s.name === c.name);
      const running = st?.state?.running;
      return {
        name: c.name,
        sidecar,
        ports: (c.ports ?? []).map((p) => ({ name: p.name ?? '', containerPort: p.containerPort, protocol: p.protocol ?? 'TCP' })),
        liveness: toWireProbe(c.livenessProbe),
        readiness: toWireProbe(c.readinessProbe),
        startup: toWireProbe(c.startupProbe),
        containerId: st?.containerID?.replace(/^docker:\/\//, '') ?? '',
        running: Boolean(running),
        startedAt: running?.startedAt ? BigInt(new Date(running.startedAt).getTime()) * 1_000_000n : 0n,
        terminated: Boolean(st?.state?.terminated || (st?.state?.waiting && st.lastState?.terminated)),
        started: st?.started ?? false,
      };
    }),
  });
}
