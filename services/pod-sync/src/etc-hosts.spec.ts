import { describe, expect, it } from 'vitest';
import type { V1Pod } from '@kubernetes/client-node';
import { hostsFileContent } from './etc-hosts';

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
});
