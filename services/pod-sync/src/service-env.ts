import { isIPv6 } from 'node:net';
import type { V1Pod, V1Service } from '@kubernetes/client-node';

/** The cluster's Services as a watch holds them (the kubelet's service lister). */
export interface ServiceSource {
  /** Whether they have been listed at least once. */
  readonly hasSynced: boolean;
  /** All of them; shared objects, not to be mutated. */
  list(): readonly V1Service[];
}

/** The kubelet's --master-service-namespace: where the `kubernetes` service every pod sees lives. */
export const MASTER_SERVICE_NAMESPACE = 'default';
const MASTER_SERVICES = new Set(['kubernetes']);

/** v1helper.IsServiceIPSet: a ClusterIP that is set and not "None" (headless and ExternalName services have none). */
const hasClusterIP = (s: V1Service) => Boolean(s.spec?.clusterIP) && s.spec?.clusterIP !== 'None';

/** envvars' makeEnvVariableName */
const envName = (name: string) => name.replace(/-/g, '_').toUpperCase();

/**
 * envvars.FromServices (pkg/kubelet/envvars): per service <NAME>_SERVICE_HOST,
 * <NAME>_SERVICE_PORT (the first port), <NAME>_SERVICE_PORT_<PORTNAME> per named port,
 * and the Docker-link variables <NAME>_PORT (the first port) and
 * <NAME>_PORT_<port>_<PROTO>{,_PROTO,_PORT,_ADDR} per port.
 */
export function serviceVariables(services: readonly V1Service[]): [string, string][] {
  const out: [string, string][] = [];
  for (const s of services) {
    const ports = s.spec?.ports ?? [];
    if (!hasClusterIP(s) || !ports.length) continue;
    const ip = s.spec!.clusterIP!;
    const prefix = envName(s.metadata?.name ?? '');
    out.push([`${prefix}_SERVICE_HOST`, ip]);
    const servicePort = `${prefix}_SERVICE_PORT`;
    out.push([servicePort, String(ports[0]!.port)]);
    for (const p of ports) if (p.name) out.push([`${servicePort}_${envName(p.name)}`, String(p.port)]);
    ports.forEach((p, i) => {
      const protocol = p.protocol || 'TCP';
      // net.JoinHostPort: an IPv6 address in brackets.
      const url = `${protocol.toLowerCase()}://${isIPv6(ip) ? `[${ip}]` : ip}:${p.port}`;
      if (i === 0) out.push([`${prefix}_PORT`, url]);
      const portPrefix = `${prefix}_PORT_${p.port}_${protocol.toUpperCase()}`;
      out.push([portPrefix, url], [`${portPrefix}_PROTO`, protocol.toLowerCase()], [`${portPrefix}_PORT`, String(p.port)], [`${portPrefix}_ADDR`, ip]);
    });
  }
  return out;
}

/**
 * getServiceEnvVarMap (pkg/kubelet/kubelet_pods.go): the service variables a pod
 * sees — the `kubernetes` service of the default namespace always, and with
 * enableServiceLinks (the API's default) every service of the pod's own namespace,
 * whose one named `kubernetes` then wins over the default namespace's. Only services
 * with a ClusterIP count. Services are taken in name order, so where two services
 * make the same variable the later name's value is the one kept.
 */
export function serviceEnv(pod: V1Pod, services: readonly V1Service[]): Map<string, string> {
  const ns = pod.metadata?.namespace ?? '';
  const links = pod.spec?.enableServiceLinks ?? true;
  const byName = new Map<string, V1Service>();
  for (const s of services) {
    if (!hasClusterIP(s)) continue;
    const name = s.metadata?.name ?? '';
    if (s.metadata?.namespace === MASTER_SERVICE_NAMESPACE && MASTER_SERVICES.has(name)) {
      if (!byName.has(name)) byName.set(name, s);
    } else if (s.metadata?.namespace === ns && links) byName.set(name, s);
  }
  const chosen = [...byName.values()].sort((a, b) => (a.metadata!.name! < b.metadata!.name! ? -1 : 1));
  return new Map(serviceVariables(chosen));
}
