import { isIP } from 'node:net';
import type { V1Container, V1Pod, V1Probe } from '@kubernetes/client-node';
import type { PodProbeView, Probe } from '@splitlet/contracts';
import { PROBE_KINDS } from './probe-kind';

// A probe view in the pods bucket is untrusted input: anything that may write the
// bucket could put one there, for a pod that does not exist, naming another pod's
// container or a host port. The prober acts on a view only where it agrees with the
// API server's copy of the pod bound to this node.

/** Why a view is not acted on. */
export type ViewRefusal =
  /** The API server binds no pod of that UID to this node. */
  | 'not-bound'
  /** The UID is a pod of this node under another name or namespace. */
  | 'identity-mismatch'
  /** A probed container, a probe or its target (command, host, port) that the pod's spec does not have. */
  | 'probe-mismatch'
  /** A pod IP no pod has (loopback, unspecified, link-local) and the API server does not show. */
  | 'pod-ip-mismatch';

/** The view, checked against the API server's pod of its UID (undefined: none on this node). */
export function checkView(view: PodProbeView, pod: V1Pod | undefined): ViewRefusal | undefined {
  if (!pod) return 'not-bound';
  if (pod.metadata?.name !== view.name || pod.metadata?.namespace !== view.namespace) return 'identity-mismatch';
  const probed = [...(pod.spec?.containers ?? []), ...(pod.spec?.initContainers ?? []).filter((c) => c.restartPolicy === 'Always')];
  for (const c of view.containers) {
    const spec = probed.find((s) => s.name === c.name);
    if (!spec) return 'probe-mismatch';
    for (const kind of PROBE_KINDS) {
      const wire = c[kind];
      if (wire && !sameTarget(wire, specProbe(spec, kind))) return 'probe-mismatch';
    }
  }
  if (view.podIp && !podIpPlausible(view.podIp, pod)) return 'pod-ip-mismatch';
  return undefined;
}

function specProbe(c: V1Container, kind: (typeof PROBE_KINDS)[number]): V1Probe | undefined {
  return kind === 'liveness' ? c.livenessProbe : kind === 'readiness' ? c.readinessProbe : c.startupProbe;
}

/** A port as the spec names it (intstr) against the wire's number or name. */
function samePort(spec: number | string | undefined, port: number, portName: string): boolean {
  if (typeof spec === 'number') return spec === port;
  if (spec !== undefined && /^\d+$/.test(spec)) return Number(spec) === port;
  return (spec ?? '') === portName;
}

/** What the probe runs or reaches — the exec command, the host and port — is the spec's. */
function sameTarget(wire: Probe, spec: V1Probe | undefined): boolean {
  if (!spec) return false;
  const h = wire.handler;
  switch (h.case) {
    case 'exec':
      return Boolean(spec.exec) && JSON.stringify(spec.exec?.command ?? []) === JSON.stringify(h.value.command);
    case 'httpGet':
      return Boolean(spec.httpGet) && (spec.httpGet?.host ?? '') === h.value.host && samePort(spec.httpGet?.port as number | string | undefined, h.value.port, h.value.portName);
    case 'tcpSocket':
      return Boolean(spec.tcpSocket) && (spec.tcpSocket?.host ?? '') === h.value.host && samePort(spec.tcpSocket?.port as number | string | undefined, h.value.port, h.value.portName);
    case 'grpc':
      return spec.grpc?.port === h.value.port;
    default:
      return false;
  }
}

/**
 * The view's pod IP is the pod's own: the one the API server shows, or — before the
 * status carrying it is written — an address a pod can have. Loopback, unspecified
 * and link-local addresses (the host's own ports, a cloud's metadata service) are
 * never a pod's.
 */
function podIpPlausible(ip: string, pod: V1Pod): boolean {
  const known = [pod.status?.podIP, ...(pod.status?.podIPs ?? []).map((p) => p.ip)];
  if (known.includes(ip)) return true;
  const v = isIP(ip);
  if (v === 4) return !/^(127\.|0\.|169\.254\.)/.test(ip);
  if (v === 6) return !/^(::1?$|fe[89ab][0-9a-f]:|::ffff:)/i.test(ip);
  return false;
}
