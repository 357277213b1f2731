import type { V1Container, V1Pod } from '@kubernetes/client-node';
import type { MessageInitShape } from '@bufbuild/protobuf';
import { PidNamespace, type ContainerConfigSchema, type PodSandboxConfigSchema } from '@splitlet/contracts';
import { parseQuantity } from '@splitlet/quantity';
import type { ContainerInputsResult } from './container-inputs';
import { containerEnv, expandCommand, type EnvContext } from './env';
import { podKernelHostname } from './etc-hosts';
import { normalizeSysctlName } from './sysctls';

export interface DnsSettings {
  clusterDNS: string[];
  clusterDomain: string;
}

/** The labels the kubelet puts in every sandbox and container config (newPodSandboxConfig). */
export const podLabels = (pod: V1Pod): Record<string, string> => ({
  'io.kubernetes.pod.name': pod.metadata?.name ?? '',
  'io.kubernetes.pod.namespace': pod.metadata?.namespace ?? '',
  'io.kubernetes.pod.uid': pod.metadata?.uid ?? '',
});

/** The pod's sandbox config (kuberuntime_sandbox.go generatePodSandboxConfig). */
export function sandboxConfig(pod: V1Pod, attempt: number, dns: DnsSettings): MessageInitShape<typeof PodSandboxConfigSchema> {
  const spec = pod.spec!;
  const name = pod.metadata?.name ?? '';
  const ports = spec.containers.flatMap((c) => c.ports ?? []).filter((p) => p.hostPort);
  return {
    metadata: { name, namespace: pod.metadata?.namespace ?? '', uid: pod.metadata?.uid ?? '', attempt },
    // The kubelet sets no host name for a host-network pod (it has the node's).
    hostname: spec.hostNetwork ? '' : podKernelHostname(pod, dns.clusterDomain),
    subdomain: spec.subdomain ?? '',
    dnsConfig: dnsConfig(pod, dns),
    portMappings: ports.map((p) => ({
      protocol: p.protocol === 'UDP' ? 1 : p.protocol === 'SCTP' ? 2 : 0,
      containerPort: p.containerPort,
      hostPort: p.hostPort ?? 0,
      hostIp: p.hostIP ?? '',
    })),
    labels: { ...pod.metadata?.labels, ...podLabels(pod) },
    annotations: pod.metadata?.annotations ?? {},
    hostNetwork: spec.hostNetwork ?? false,
    hostAliases: (spec.hostAliases ?? []).map((a) => ({ ip: a.ip ?? '', hostnames: a.hostnames ?? [] })),
    // generatePodSandboxLinuxConfig, the names with dots first (ConvertPodSysctlsVariableToDotsSeparator: runc knows no slashes).
    sysctls: Object.fromEntries((spec.securityContext?.sysctls ?? []).map((s) => [normalizeSysctlName(s.name), s.value])),
  };
}

/** The pod's DNS type is the cluster's (ClusterFirst off the host network, or ClusterFirstWithHostNet), but no cluster DNS is configured: the kubelet falls back to Default, with a MissingClusterDNS Event. */
export function fallsBackFromClusterDNS(pod: V1Pod, dns: DnsSettings): boolean {
  const policy = pod.spec?.dnsPolicy ?? 'ClusterFirst';
  const cluster = policy === 'ClusterFirstWithHostNet' || (policy === 'ClusterFirst' && !pod.spec?.hostNetwork);
  return cluster && dns.clusterDNS.length === 0;
}

/** resolv.conf as the kubelet's dns configurer writes it (pkg/kubelet/network/dns). */
function dnsConfig(pod: V1Pod, dns: DnsSettings): MessageInitShape<typeof PodSandboxConfigSchema>['dnsConfig'] {
  const spec = pod.spec!;
  let policy = spec.dnsPolicy ?? 'ClusterFirst';
  if (spec.hostNetwork && policy === 'ClusterFirst') policy = 'Default'; // ClusterFirstWithHostNet is the opt-in
  if (policy === 'ClusterFirstWithHostNet') policy = 'ClusterFirst';
  const extra = spec.dnsConfig;
  if (policy === 'None') {
    return { servers: extra?.nameservers ?? [], searches: extra?.searches ?? [], options: (extra?.options ?? []).map((o) => (o.value ? `${o.name}:${o.value}` : (o.name ?? ''))) };
  }
  if (policy === 'ClusterFirst' && dns.clusterDNS.length) {
    const ns = pod.metadata?.namespace ?? 'default';
    const d = dns.clusterDomain;
    return {
      servers: [...dns.clusterDNS, ...(extra?.nameservers ?? [])],
      searches: [`${ns}.svc.${d}`, `svc.${d}`, d, ...(extra?.searches ?? [])],
      options: ['ndots:5', ...(extra?.options ?? []).map((o) => (o.value ? `${o.name}:${o.value}` : (o.name ?? '')))],
    };
  }
  // Default (or ClusterFirst without cluster DNS, as the kubelet falls back): the node's resolv.conf.
  return { servers: extra?.nameservers ?? [], searches: extra?.searches ?? [], options: [] };
}

const milli = (v: string | undefined) => (v === undefined ? undefined : parseQuantity(v));

/** A container's runtime config (kuberuntime_container.go generateContainerConfig), the parts splitlet supports so far. */
/**
 * pidTarget: the running container an ephemeral container's targetContainerName
 * names, whose PID namespace it joins when the pod's own mode is the container's
 * (generateLinuxContainerConfig's nsTarget).
 */
export function containerConfig(pod: V1Pod, c: V1Container, attempt: number, envCtx: EnvContext, inputs?: ContainerInputsResult, pidTarget?: string): MessageInitShape<typeof ContainerConfigSchema> {
  const envs = inputs?.envs ?? containerEnv(pod, c, envCtx);
  const sc = { ...pod.spec?.securityContext, ...c.securityContext };
  const req = c.resources?.requests ?? {};
  const lim = c.resources?.limits ?? {};
  const cpuReq = milli(req['cpu'] ?? lim['cpu']);
  const cpuLim = milli(lim['cpu']);
  const memLim = milli(lim['memory']);
  return {
    metadata: { name: c.name, attempt },
    image: c.image ?? '',
    command: expandCommand(c.command, envs),
    args: expandCommand(c.args, envs),
    workingDir: c.workingDir ?? '',
    envs,
    mounts: inputs?.mounts ?? [],
    labels: { ...podLabels(pod), 'io.kubernetes.container.name': c.name },
    annotations: {
      'io.kubernetes.container.restartCount': String(attempt),
      'io.kubernetes.container.terminationMessagePath': c.terminationMessagePath ?? '/dev/termination-log',
      'io.kubernetes.container.terminationMessagePolicy': c.terminationMessagePolicy ?? 'File',
    },
    stdin: c.stdin ?? false,
    stdinOnce: c.stdinOnce ?? false,
    tty: c.tty ?? false,
    resources: {
      // The kubelet's cgroup arithmetic: shares from the request (min 2), quota from the limit per 100 ms period.
      cpuShares: BigInt(cpuReq === undefined ? 2 : Math.max(2, Number((cpuReq * 1024n) / 1000n))),
      cpuPeriod: cpuLim === undefined ? 0n : 100_000n,
      cpuQuota: cpuLim === undefined ? 0n : (cpuLim * 100_000n) / 1000n,
      memoryLimitInBytes: memLim === undefined ? 0n : memLim / 1000n,
    },
    securityContext: {
      privileged: sc.privileged ?? false,
      readonlyRootfs: sc.readOnlyRootFilesystem ?? false,
      runAsNonRoot: sc.runAsNonRoot ?? false,
      noNewPrivs: sc.allowPrivilegeEscalation === false,
      ...(sc.runAsUser !== undefined ? { runAsUser: BigInt(sc.runAsUser) } : {}),
      ...(sc.runAsGroup !== undefined ? { runAsGroup: BigInt(sc.runAsGroup) } : {}),
      capabilities: { addCapabilities: c.securityContext?.capabilities?.add ?? [], dropCapabilities: c.securityContext?.capabilities?.drop ?? [] },
      // The fsGroup joins them, so the group that owns the pod's volumes is the container's (determineEffectiveSecurityContext).
      supplementalGroups: [...(pod.spec?.securityContext?.supplementalGroups ?? []), ...(pod.spec?.securityContext?.fsGroup !== undefined ? [pod.spec.securityContext.fsGroup] : [])].map((g) => BigInt(g)),
      ...pidNamespace(pod, pidTarget),
    },
    terminationMessagePath: c.terminationMessagePath ?? '/dev/termination-log',
  };
}

/** The kubelet's pidNamespaceForPod (hostPID, then shareProcessNamespace, else the container's own), or an ephemeral container's target. */
function pidNamespace(pod: V1Pod, pidTarget: string | undefined): { pidNamespace: PidNamespace; pidTargetId?: string } {
  if (pod.spec?.hostPID) return { pidNamespace: PidNamespace.NODE };
  if (pod.spec?.shareProcessNamespace) return { pidNamespace: PidNamespace.POD };
  if (pidTarget) return { pidNamespace: PidNamespace.TARGET, pidTargetId: pidTarget };
  return { pidNamespace: PidNamespace.CONTAINER_UNSPECIFIED };
}
