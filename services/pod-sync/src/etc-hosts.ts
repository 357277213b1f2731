import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { V1HostAlias, V1Pod } from '@kubernetes/client-node';

const MANAGED_HEADER = '# Kubernetes-managed hosts file.\n';

/** The HostAliases part of a hosts file (hostsEntriesFromHostAliases). */
function aliasEntries(aliases: V1HostAlias[] | undefined): string {
  if (!aliases?.length) return '';
  return `\n# Entries added by HostAliases.\n${aliases.map((a) => `${a.ip}\t${(a.hostnames ?? []).join('\t')}\n`).join('')}`;
}

/** The pod's host name and domain (GeneratePodHostNameAndDomain). */
export function podHostNameAndDomain(pod: V1Pod, clusterDomain: string): { hostName: string; hostDomain: string } {
  const hostName = (pod.spec?.hostname || pod.metadata?.name || '').slice(0, 63).replace(/[-.]+$/, '');
  const sub = pod.spec?.subdomain;
  return { hostName, hostDomain: sub ? `${sub}.${pod.metadata?.namespace}.svc.${clusterDomain}` : '' };
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
