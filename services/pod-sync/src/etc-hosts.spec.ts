import { describe, expect, it } from 'vitest';
import type { V1Pod } from '@kubernetes/client-node';
import { hostsFileContent, podKernelHostname } from './etc-hosts';
import { sandboxConfig } from './runtime-config';

const pod = (spec: Partial<NonNullable<V1Pod['spec']>> = {}): V1Pod => ({ metadata: { name: 'web', namespace: 'ns' }, spec: { containers: [], ...spec } });

describe('the managed /etc/hosts', () => {
  it('localhost lines and the pod IP with its host name, as managedHostsFileContent', () => {
    expect(hostsFileContent(pod(), ['10.0.0.5'], 'cluster.local', () => '')).toBe(
      '# Kubernetes-managed hosts file.\n127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\nfe00::0\tip6-localnet\nfe00::0\tip6-mcastprefix\nfe00::1\tip6-allnodes\nfe00::2\tip6-allrouters\n10.0.0.5\tweb\n',
    );
  });

  it('a hostname and subdomain give the FQDN first; host aliases follow, one line per IP', () => {
    const content = hostsFileContent(pod({ hostname: 'box', subdomain: 'sub', hostAliases: [{ ip: '1.2.3.4', hostnames: ['foo', 'bar'] }, { ip: '5.6.7.8', hostnames: ['baz'] }] }), ['10.0.0.5'], 'cluster.local', () => '');
    expect(content.endsWith('10.0.0.5\tbox.sub.ns.svc.cluster.local\tbox\n\n# Entries added by HostAliases.\n1.2.3.4\tfoo\tbar\n5.6.7.8\tbaz\n')).toBe(true);
  });

  it('a host-network pod gets the node\'s hosts file and its aliases', () => {
    expect(hostsFileContent(pod({ hostNetwork: true, hostAliases: [{ ip: '1.2.3.4', hostnames: ['foo'] }] }), ['192.0.2.2'], 'cluster.local', () => '127.0.0.1 localhost\n')).toBe(
      '127.0.0.1 localhost\n\n# Entries added by HostAliases.\n1.2.3.4\tfoo\n',
    );
  });

  it('spec.hostnameOverride is the host name, before hostname and subdomain, with no FQDN (GeneratePodHostNameAndDomain)', () => {
    const content = hostsFileContent(pod({ hostnameOverride: 'my.custom-host.example', hostname: 'box', subdomain: 'sub' }), ['10.0.0.5'], 'cluster.local', () => '');
    expect(content.endsWith('fe00::2\tip6-allrouters\n10.0.0.5\tmy.custom-host.example\n')).toBe(true);
  });

  it('a host name past 63 characters is cut there and loses a trailing dot or dash', () => {
    const override = `${'a'.repeat(62)}.bc`;
    expect(hostsFileContent(pod({ hostnameOverride: override }), ['10.0.0.5'], 'cluster.local', () => '').endsWith(`10.0.0.5\t${'a'.repeat(62)}\n`)).toBe(true);
  });
});

describe('the sandbox host name (GetNodenameForKernel)', () => {
  const dns = { clusterDNS: [], clusterDomain: 'cluster.local' };

  it('is the override, else the hostname, else the pod name', () => {
    expect(sandboxConfig(pod({ hostnameOverride: 'over.ride', hostname: 'box' }), 0, dns).hostname).toBe('over.ride');
    expect(sandboxConfig(pod({ hostname: 'box', subdomain: 'sub' }), 0, dns).hostname).toBe('box');
    expect(sandboxConfig(pod(), 0, dns).hostname).toBe('web');
  });

  it('is the FQDN with setHostnameAsFQDN and a subdomain, and an FQDN past 64 characters is an error', () => {
    expect(sandboxConfig(pod({ hostname: 'box', subdomain: 'sub', setHostnameAsFQDN: true }), 0, dns).hostname).toBe('box.sub.ns.svc.cluster.local');
    expect(sandboxConfig(pod({ setHostnameAsFQDN: true }), 0, dns).hostname).toBe('web');
    expect(() => podKernelHostname(pod({ hostname: 'h'.repeat(40), subdomain: 'sub', setHostnameAsFQDN: true }), 'cluster.local')).toThrow(
      `failed to construct FQDN from pod hostname and cluster domain, FQDN ${'h'.repeat(40)}.sub.ns.svc.cluster.local is too long (64 characters is the max, 65 characters requested)`,
    );
  });

  it('is not set for a host-network pod, which has the node\'s', () => {
    expect(sandboxConfig(pod({ hostNetwork: true, hostname: 'box' }), 0, dns).hostname).toBe('');
  });
});
