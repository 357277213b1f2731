import { describe, expect, it } from 'vitest';
import type { V1Pod } from '@kubernetes/client-node';
import { InvalidSysctlPatternError, normalizeSysctlName, safeSysctls, SysctlAllowlist } from './sysctls';

const pod = (sysctls: [string, string][], spec: Partial<NonNullable<V1Pod['spec']>> = {}): V1Pod => ({
  metadata: { name: 'web', namespace: 'ns' },
  spec: { containers: [], securityContext: { sysctls: sysctls.map(([name, value]) => ({ name, value })) }, ...spec },
});

describe('sysctl admission (pkg/kubelet/sysctl)', () => {
  const kubelet = new SysctlAllowlist(safeSysctls('6.1.0-18-amd64'));

  it('safeSysctls - the kubelet\'s safe list, less those an older kernel does not namespace', () => {
    expect(safeSysctls('6.1.0')).toEqual([
      'kernel.shm_rmid_forced',
      'net.ipv4.ip_local_port_range',
      'net.ipv4.tcp_syncookies',
      'net.ipv4.ping_group_range',
      'net.ipv4.ip_unprivileged_port_start',
      'net.ipv4.ip_local_reserved_ports',
      'net.ipv4.tcp_keepalive_time',
      'net.ipv4.tcp_fin_timeout',
      'net.ipv4.tcp_keepalive_intvl',
      'net.ipv4.tcp_keepalive_probes',
      'net.ipv4.tcp_rmem',
      'net.ipv4.tcp_wmem',
    ]);
    expect(safeSysctls('4.5.0')).not.toContain('net.ipv4.tcp_fin_timeout');
    expect(safeSysctls('4.5.0')).toContain('net.ipv4.tcp_keepalive_time');
    expect(safeSysctls('4.14.0')).not.toContain('net.ipv4.tcp_rmem');
  });

  it('normalizeSysctlName - slashes as separators become dots, and dots in a segment slashes', () => {
    expect(normalizeSysctlName('kernel/shm_rmid_forced')).toBe('kernel.shm_rmid_forced');
    expect(normalizeSysctlName('net/ipv4/conf/eno2.100/rp_filter')).toBe('net.ipv4.conf.eno2/100.rp_filter');
    expect(normalizeSysctlName('net.ipv4.conf.eno2/100.rp_filter')).toBe('net.ipv4.conf.eno2/100.rp_filter');
  });

  it('SysctlAllowlist - safe sysctls (with dots or slashes) are admitted', () => {
    expect(kubelet.admit(pod([['kernel.shm_rmid_forced', '1'], ['net.ipv4.ip_local_port_range', '1024 65535']]))).toBeUndefined();
    expect(kubelet.admit(pod([['kernel/shm_rmid_forced', '1']]))).toBeUndefined();
    expect(kubelet.admit({ metadata: { name: 'web' }, spec: { containers: [] } })).toBeUndefined();
  });

  it('SysctlAllowlist - an unsafe sysctl not allowed is SysctlForbidden with the kubelet\'s message', () => {
    expect(kubelet.admit(pod([['kernel.shm_rmid_forced', '1'], ['kernel.msgmax', '10000000000']]))).toEqual({
      reason: 'SysctlForbidden',
      message: 'forbidden sysctl: "kernel.msgmax" not allowlisted',
    });
  });

  it('SysctlAllowlist - allowed unsafe sysctls by name and by prefix', () => {
    const node = new SysctlAllowlist([...safeSysctls('6.1.0'), 'kernel.msg*', 'net.core.somaxconn']);
    expect(node.admit(pod([['kernel.msgmax', '1'], ['kernel.msgmnb', '1'], ['net.core.somaxconn', '1024']]))).toBeUndefined();
    expect(node.admit(pod([['kernel.sem', '1']]))?.message).toBe('forbidden sysctl: "kernel.sem" not allowlisted');
  });

  it('SysctlAllowlist - a net.* sysctl on the host network, or an IPC one with hostIPC, is refused', () => {
    expect(kubelet.admit(pod([['net.ipv4.ip_local_port_range', '1024 65535']], { hostNetwork: true }))).toEqual({
      reason: 'SysctlForbidden',
      message: 'forbidden sysctl: "net.ipv4.ip_local_port_range" not allowed with host Net enabled',
    });
    expect(kubelet.admit(pod([['kernel.shm_rmid_forced', '1']], { hostNetwork: true }))).toBeUndefined();
    expect(kubelet.admit(pod([['kernel.shm_rmid_forced', '1']], { hostIPC: true }))?.message).toBe('forbidden sysctl: "kernel.shm_rmid_forced" not allowed with host IPC enabled');
  });

  it('SysctlAllowlist - a pattern that is not a sysctl, or not namespaced, is refused as the kubelet refuses to start', () => {
    expect(() => new SysctlAllowlist(['kernel.msg*'])).not.toThrow();
    expect(() => new SysctlAllowlist(['Kernel.MSG'])).toThrow(InvalidSysctlPatternError);
    expect(() => new SysctlAllowlist(['vm.swappiness'])).toThrow('the sysctls "vm.swappiness" are not known to be namespaced');
    expect(() => new SysctlAllowlist(['kernel.*'])).toThrow('the sysctls "kernel." are not known to be namespaced');
  });
});
