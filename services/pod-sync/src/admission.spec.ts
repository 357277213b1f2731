import { describe, expect, it } from 'vitest';
import type { V1Pod } from '@kubernetes/client-node';
import { isAdmissionRejection, PodAdmission } from './admission';
import { safeSysctls, SysctlAllowlist } from './sysctls';

const pod = (o: { labels?: Record<string, string>; os?: string; sysctls?: string[] } = {}): V1Pod => ({
  metadata: { name: 'web', namespace: 'ns', ...(o.labels ? { labels: o.labels } : {}) },
  spec: { containers: [{ name: 'app' }], ...(o.os ? { os: { name: o.os } } : {}), ...(o.sysctls ? { securityContext: { sysctls: o.sysctls.map((name) => ({ name, value: '1' })) } } : {}) },
});

describe('PodAdmission (the kubelet\'s admit handlers)', () => {
  const admission = new PodAdmission(new SysctlAllowlist(safeSysctls('6.1.0')));

  it('PodAdmission - a Linux pod, or one that names no OS, is admitted', () => {
    expect(admission.admit(pod())).toBeUndefined();
    expect(admission.admit(pod({ os: 'linux', labels: { 'kubernetes.io/os': 'linux' } }))).toBeUndefined();
  });

  it('PodAdmission - spec.os.name windows is PodOSNotSupported with the kubelet\'s message', () => {
    expect(admission.admit(pod({ os: 'windows' }))).toEqual({ reason: 'PodOSNotSupported', message: 'Failed to admit pod as the OS field doesn\'t match node OS' });
  });

  it('PodAdmission - the pod\'s own kubernetes.io/os label of another OS is PodOSSelectorNodeLabelDoesNotMatch, checked before the OS field', () => {
    const expected = { reason: 'PodOSSelectorNodeLabelDoesNotMatch', message: 'Failed to admit pod as the `kubernetes.io/os` label doesn\'t match node label' };
    expect(admission.admit(pod({ labels: { 'kubernetes.io/os': 'windows' } }))).toEqual(expected);
    expect(admission.admit(pod({ labels: { 'kubernetes.io/os': 'windows' }, os: 'windows' }))).toEqual(expected);
  });

  it('PodAdmission - under the node\'s MemoryPressure a BestEffort pod is Evicted with the eviction manager\'s message (its handler first); a Burstable one is admitted', () => {
    const node = { metadata: { name: 'n' }, status: { allocatable: { cpu: '2', memory: '4Gi', pods: '110' }, conditions: [{ type: 'MemoryPressure', status: 'True' }, { type: 'DiskPressure', status: 'False' }] } };
    const pressured = new PodAdmission(new SysctlAllowlist(safeSysctls('6.1.0')), { node: () => node, pods: () => [] });
    expect(pressured.admit({ ...pod({ sysctls: ['kernel.msgmax'] }), metadata: { name: 'be', namespace: 'ns', uid: 'be' } })).toEqual({ reason: 'Evicted', message: 'The node had condition: [MemoryPressure]. ' });
    const burstable: V1Pod = { metadata: { name: 'b', namespace: 'ns', uid: 'b' }, spec: { containers: [{ name: 'app', resources: { requests: { memory: '10Mi' } } }] } };
    expect(pressured.admit(burstable)).toBeUndefined();
  });

  it('PodAdmission - the sysctl handler comes first, as in the kubelet\'s handler order', () => {
    expect(admission.admit(pod({ os: 'windows', sysctls: ['kernel.msgmax'] }))?.reason).toBe('SysctlForbidden');
  });

  it('PodAdmission - while the node shuts down every pod is refused: NodeShutdown with the kubelet\'s message, the last handler; a rejection is an admission one (the pod never runs)', () => {
    let shutting = true;
    const shutdown = new PodAdmission(new SysctlAllowlist(safeSysctls('6.1.0')), { node: () => undefined, pods: () => [], shuttingDown: () => shutting });
    const named = (uid: string, o: Parameters<typeof pod>[0] = {}): V1Pod => ({ ...pod(o), metadata: { name: uid, namespace: 'ns', uid } });
    expect(shutdown.admit(named('a'))).toEqual({ reason: 'NodeShutdown', message: 'Pod was rejected as the node is shutting down.' });
    expect(shutdown.admit(named('b', { os: 'windows' }))?.reason).toBe('PodOSNotSupported');
    expect(isAdmissionRejection('NodeShutdown')).toBe(true);
    expect(isAdmissionRejection('Terminated')).toBe(false);
    // Cancelled: a new pod is admitted; one refused before stays refused (decided once).
    shutting = false;
    expect(shutdown.admit(named('c'))).toBeUndefined();
    expect(shutdown.admit(named('a'))?.reason).toBe('NodeShutdown');
  });
});
