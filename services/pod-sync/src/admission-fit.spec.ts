import { describe, expect, it } from 'vitest';
import type { V1Container, V1Node, V1Pod } from '@kubernetes/client-node';
import { PodAdmission } from './admission';
import { generalFilter, podRequests } from './admission-fit';
import { safeSysctls, SysctlAllowlist } from './sysctls';

const node: V1Node = {
  metadata: { name: 'n1', labels: { 'kubernetes.io/os': 'linux', zone: 'a', rank: '5' } },
  spec: { taints: [{ key: 'maintenance', value: 'soon', effect: 'NoSchedule' }] },
  status: { allocatable: { cpu: '2', memory: '4Gi', 'ephemeral-storage': '10Gi', pods: '3', 'example.com/gpu': '1' } },
};

let seq = 0;
const pod = (requests: Record<string, string> = {}, spec: Partial<V1Pod['spec']> = {}, created = '2026-12-03T10:00:00Z'): V1Pod => ({
  metadata: { name: `p${++seq}`, namespace: 'ns', uid: `uid-${String(seq).padStart(3, '0')}`, creationTimestamp: new Date(created) },
  spec: { nodeName: 'n1', containers: [{ name: 'app', resources: { requests } }], ...spec },
});
const running = (p: V1Pod): V1Pod => ({ ...p, status: { phase: 'Running', startTime: new Date('2026-12-03T09:00:00Z') } });

describe('admission: the kubelet\'s general filter', () => {
  it('podRequests - app containers and sidecars add up; a regular init container counts with the sidecars before it when larger; overhead on top', () => {
    const c = (name: string, cpu: string, restartPolicy?: string): V1Container => ({ name, resources: { requests: { cpu } }, ...(restartPolicy ? { restartPolicy } : {}) });
    const p = pod({}, { containers: [c('a', '100m'), c('b', '200m')], initContainers: [c('side', '50m', 'Always'), c('big', '1'), c('side2', '25m', 'Always')], overhead: { cpu: '10m' } });
    // max(300 + 75 sidecars, 1000 + 50 before it) + 10
    expect(podRequests(p).get('cpu')).toBe(1060n);
  });

  it('generalFilter - more cpu than is left: OutOfcpu with the InsufficientResourceError text (milli-cores, the admitted pods\' use)', () => {
    expect(generalFilter(pod({ cpu: '1500m' }), node, [running(pod({ cpu: '1' }))])).toEqual({
      reason: 'OutOfcpu',
      message: 'Node didn\'t have enough resource: cpu, requested: 1500, used: 1000, capacity: 2000',
    });
    expect(generalFilter(pod({ cpu: '1' }), node, [running(pod({ cpu: '1' }))])).toBeUndefined();
  });

  it('generalFilter - memory in bytes, ephemeral-storage, the node\'s extended resources; one the node lacks is not the node\'s to refuse', () => {
    expect(generalFilter(pod({ memory: '5Gi' }), node, [])).toEqual({ reason: 'OutOfmemory', message: `Node didn't have enough resource: memory, requested: ${5 * 2 ** 30}, used: 0, capacity: ${4 * 2 ** 30}` });
    expect(generalFilter(pod({ 'ephemeral-storage': '11Gi' }), node, [])?.reason).toBe('OutOfephemeral-storage');
    expect(generalFilter(pod({ 'example.com/gpu': '2' }), node, [])).toEqual({ reason: 'OutOfexample.com/gpu', message: 'Node didn\'t have enough resource: example.com/gpu, requested: 2, used: 0, capacity: 1' });
    expect(generalFilter(pod({ 'example.com/fpga': '9' }), node, [])).toBeUndefined();
  });

  it('generalFilter - beyond allocatable pods: OutOfpods first, even for a pod that requests nothing', () => {
    const others = [running(pod()), running(pod()), running(pod())];
    expect(generalFilter(pod({ cpu: '5' }), node, others)).toEqual({ reason: 'OutOfpods', message: 'Node didn\'t have enough resource: pods, requested: 1, used: 3, capacity: 3' });
  });

  it('generalFilter - node selector and required node affinity, host ports, NoExecute taints: the predicate\'s name and text', () => {
    expect(generalFilter(pod({}, { nodeSelector: { zone: 'b' } }), node, [])).toEqual({ reason: 'NodeAffinity', message: 'Predicate NodeAffinity failed: node(s) didn\'t match Pod\'s node affinity/selector' });
    const affinity = (operator: string, values?: string[]) => ({ nodeAffinity: { requiredDuringSchedulingIgnoredDuringExecution: { nodeSelectorTerms: [{ matchExpressions: [{ key: 'rank', operator, ...(values ? { values } : {}) }] }] } } });
    expect(generalFilter(pod({}, { affinity: affinity('Gt', ['4']) }), node, [])).toBeUndefined();
    expect(generalFilter(pod({}, { affinity: affinity('Lt', ['4']) }), node, [])?.reason).toBe('NodeAffinity');
    expect(generalFilter(pod({}, { affinity: affinity('DoesNotExist') }), node, [])?.reason).toBe('NodeAffinity');
    const withPort = (hostPort: number, hostIP?: string) => pod({}, { containers: [{ name: 'app', ports: [{ containerPort: 80, hostPort, ...(hostIP ? { hostIP } : {}) }] }] });
    expect(generalFilter(withPort(8080, '127.0.0.1'), node, [running(withPort(8080))])).toEqual({ reason: 'NodePorts', message: 'Predicate NodePorts failed: node(s) didn\'t have free ports for the requested pod ports' });
    expect(generalFilter(withPort(8081), node, [running(withPort(8080))])).toBeUndefined();
    const tainted: V1Node = { ...node, spec: { taints: [{ key: 'evict', effect: 'NoExecute' }] } };
    expect(generalFilter(pod(), tainted, [])).toEqual({ reason: 'TaintToleration', message: 'Predicate TaintToleration failed: node(s) had taints that the pod didn\'t tolerate' });
    expect(generalFilter(pod({}, { tolerations: [{ key: 'evict', operator: 'Exists' }] }), tainted, [])).toBeUndefined();
    // NoSchedule is the scheduler's business, not the kubelet's.
    expect(generalFilter(pod(), node, [])).toBeUndefined();
  });

  it('PodAdmission - a burst decided in creation order, whichever pod asks first: the earliest fit, the rest are refused; a finished pod frees its share', () => {
    const pods: V1Pod[] = [];
    const admission = new PodAdmission(new SysctlAllowlist(safeSysctls('6.1.0')), { node: () => node, pods: () => pods });
    const first = pod({ cpu: '1500m' }, {}, '2026-12-03T10:00:01Z');
    const second = pod({ cpu: '1' }, {}, '2026-12-03T10:00:02Z');
    const third = pod({ cpu: '500m' }, {}, '2026-12-03T10:00:03Z');
    pods.push(third, second, first);
    // The last created asks first: the two before it are decided before it.
    expect(admission.admit(third)).toBeUndefined();
    expect(admission.admit(second)?.reason).toBe('OutOfcpu');
    expect(admission.admit(first)).toBeUndefined();
    const fourth = pod({ cpu: '1' }, {}, '2026-12-03T10:00:04Z');
    pods.push(fourth);
    expect(admission.admit(fourth)?.message).toBe('Node didn\'t have enough resource: cpu, requested: 1000, used: 2000, capacity: 2000');
    pods[2] = { ...first, status: { phase: 'Succeeded' } };
    const fifth = pod({ cpu: '1' }, {}, '2026-12-03T10:00:05Z');
    pods.push(fifth);
    expect(admission.admit(fifth)).toBeUndefined();
  });

  it("PodAdmission - a pod the node knows finished frees its share before the API shows it (the kubelet's isAdmittedPodTerminal reads its own status cache)", () => {
    const pods: V1Pod[] = [];
    const done = new Set<string>();
    const apiOnly = new PodAdmission(new SysctlAllowlist(safeSysctls('6.1.0')), { node: () => node, pods: () => pods });
    const admission = new PodAdmission(new SysctlAllowlist(safeSysctls('6.1.0')), {
      node: () => node,
      pods: () => pods,
      finished: (p) => done.has(p.metadata!.uid!) || p.status?.phase === 'Succeeded',
    });
    // Three pods fill the node's 3; the first one's container exited 0, which the API does not show yet.
    const running3 = [pod({}, {}, '2026-12-03T10:00:01Z'), pod({}, {}, '2026-12-03T10:00:02Z'), pod({}, {}, '2026-12-03T10:00:03Z')].map(running);
    pods.push(...running3);
    done.add(running3[0]!.metadata!.uid!);
    const next = pod({}, {}, '2026-12-03T10:00:04Z');
    pods.push(next);
    expect(apiOnly.admit(next)?.reason).toBe('OutOfpods');
    expect(admission.admit(next)).toBeUndefined();
  });
});
