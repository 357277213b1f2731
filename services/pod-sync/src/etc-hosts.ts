import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { V1HostAlias, V1Pod } from '@kubernetes/client-node';

const MANAGED_HEADER = '# Kubernetes-managed hosts file.\n';

/** The HostAliases part of a hosts file (hostsEntriesFromHostAliases). */
function aliasEntries(aliases: V1HostAlias[] | undefined): string {
  if (!aliases?.length) return '';
  return `\n# Entries added by HostAliases.\n${aliases.map((a) => `${a.ip}\t${(a.hostnames ?? []).join('\t')}\n`).join('')}`;
}

/** A host name cut to 63 characters, without a trailing '-' or '.' (truncatePodHostnameIfNeeded). */
const truncateHostname = (hostname: string): string => (hostname.length <= 63 ? hostname : hostname.slice(0, 63).replace(/[-.]+$/, ''));

/**
 * The pod's host name and domain (GeneratePodHostNameAndDomain): spec.hostnameOverride
 * when set (HostnameOverride, Beta and on by default since 1.35) with no domain, since
 * it takes precedence over hostname and subdomain; else spec.hostname or the pod's
 * name, and with a subdomain `<subdomain>.<namespace>.svc.<cluster domain>`. (The API
 * server has validated the names already.)
 */
export function podHostNameAndDomain(pod: V1Pod, clusterDomain: string): { hostName: string; hostDomain: string } {
  const override = pod.spec?.hostnameOverride;
  if (override !== undefined && override !== null) return { hostName: truncateHostname(override), hostDomain: '' };
  const hostName = truncateHostname(pod.spec?.hostname || pod.metadata?.name || '');
  const sub = pod.spec?.subdomain;
  return { hostName, hostDomain: sub ? `${sub}.${pod.metadata?.namespace}.svc.${clusterDomain}` : '' };
}

/**
 * The host name the sandbox's kernel carries (GetNodenameForKernel): the FQDN with
 * setHostnameAsFQDN and a domain, which must fit the 64 characters of utsname's
 * nodename; else the host name.
 */
export function podKernelHostname(pod: V1Pod, clusterDomain: string): string {
  const { hostName, hostDomain } = podHostNameAndDomain(pod, clusterDomain);
  if (!hostDomain || !pod.spec?.setHostnameAsFQDN) return hostName;
  const fqdn = `${hostName}.${hostDomain}`;
  if (fqdn.length > 64) throw new Error(`failed to construct FQDN from pod hostname and cluster domain, FQDN ${fqdn} is too long (64 characters is the max, ${fqdn.length} characters requested)`);
  return fqdn;
}

/**
 * The hosts file the kubelet writes for a pod (managedHostsFileContent): localhost
 * lines, the pod's IPs with its host name (and FQDN with a subdomain), then the host
 * aliases. A host-network pod gets the node's /etc/hosts plus the aliases.
 */
export function hostsFileContent(pod: V1Pod, podIPs: string[], clusterDomain: string, nodeHosts: () => string): string {
  if (pod.spec?.hostNetwork) return nodeHosts() + aliasEntries(pod.spec.hostAliases);
  const { hostName, hostDomain } = podHostNameAndDomain(pod, clusterDomain);
  let out = MANAGED_HEADER;
  out += '127.0.0.1\tlocalhost\n';
  out += '::1\tlocalhost ip6-localhost ip6-loopback\n';
  out += 'fe00::0\tip6-localnet\n';
  out += 'fe00::0\tip6-mcastprefix\n';
  out += 'fe00::1\tip6-allnodes\n';
  out += 'fe00::2\tip6-allrouters\n';
  for (const ip of podIPs) out += hostDomain ? `${ip}\t${hostName}.${hostDomain}\t${hostName}\n` : `${ip}\t${hostName}\n`;
  return out + aliasEntries(pod.spec?.hostAliases);
}

/**
 * Writes the pod's hosts file at <podDir>/etc-hosts (rewritten only when its content
 * changes, e.g. a new sandbox's IP) and returns its path, to be bound at /etc/hosts.
 */
export function ensureHostsFile(podDir: string, content: string): string {
  const file = join(podDir, 'etc-hosts');
  let current: string | undefined;
  try {
    current = readFileSync(file, 'utf8');
  } catch {
    current = undefined;
  }
  if (current !== content) {
    mkdirSync(podDir, { recursive: true, mode: 0o750 });
    writeFileSync(file, content, { mode: 0o644 });
  }
  return file;
}
