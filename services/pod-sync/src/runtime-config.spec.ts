import type { V1Pod } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { fallsBackFromClusterDNS, sandboxConfig, type DnsSettings } from './runtime-config';

const none: DnsSettings = { clusterDNS: [], clusterDomain: 'cluster.local' };
const some: DnsSettings = { clusterDNS: ['10.96.0.10'], clusterDomain: 'cluster.local' };
const pod = (spec: Partial<NonNullable<V1Pod['spec']>>): V1Pod => ({ metadata: { name: 'p', namespace: 'ns', uid: 'u' }, spec: { containers: [], ...spec } });

describe('pod-sync runtime-config', () => {
  it('fallsBackFromClusterDNS - ClusterFirst (the default) off the host network, or ClusterFirstWithHostNet, on a node without cluster DNS: the kubelet falls back and says MissingClusterDNS', () => {
    expect(fallsBackFromClusterDNS(pod({}), none)).toBe(true);
    expect(fallsBackFromClusterDNS(pod({ dnsPolicy: 'ClusterFirst' }), none)).toBe(true);
    expect(fallsBackFromClusterDNS(pod({ dnsPolicy: 'ClusterFirstWithHostNet', hostNetwork: true }), none)).toBe(true);
    // ClusterFirst on the host network is Default for the kubelet: nothing to fall back from.
    expect(fallsBackFromClusterDNS(pod({ hostNetwork: true }), none)).toBe(false);
    expect(fallsBackFromClusterDNS(pod({ dnsPolicy: 'Default' }), none)).toBe(false);
    expect(fallsBackFromClusterDNS(pod({ dnsPolicy: 'None' }), none)).toBe(false);
    expect(fallsBackFromClusterDNS(pod({}), some)).toBe(false);
  });

  it('sandboxConfig - a ClusterFirst pod without cluster DNS gets the node\'s resolv.conf (Default), with cluster DNS the cluster\'s', () => {
    expect(sandboxConfig(pod({}), 0, none).dnsConfig).toEqual({ servers: [], searches: [], options: [] });
    expect(sandboxConfig(pod({}), 0, some).dnsConfig).toEqual({ servers: ['10.96.0.10'], searches: ['ns.svc.cluster.local', 'svc.cluster.local', 'cluster.local'], options: ['ndots:5'] });
  });
});
