import { describe, expect, it } from 'vitest';
import type { V1Pod } from '@kubernetes/client-node';
import { admitUnderPressure, isCriticalPod, memoryEvictionMessage, rankMemoryPressure, type PodUsage } from './memory-pressure';
import { parseThresholds } from './thresholds';

const Mi = 1024n * 1024n;
const pod = (name: string, o: { priority?: number; request?: string; limit?: string; tolerations?: V1Pod['spec'] extends infer S ? S extends { tolerations?: infer T } ? T : never : never; annotations?: Record<string, string> } = {}): V1Pod => ({
  metadata: { name, namespace: 'ns', uid: name, ...(o.annotations ? { annotations: o.annotations } : {}) },
  spec: {
    ...(o.priority !== undefined ? { priority: o.priority } : {}),
    ...(o.tolerations ? { tolerations: o.tolerations } : {}),
    containers: [{ name: 'app', resources: { ...(o.request ? { requests: { memory: o.request } } : {}), ...(o.limit ? { limits: { memory: o.limit } } : {}) } }],
  },
});
const usage = (p: V1Pod, used: bigint | undefined, request = 0n): PodUsage => ({ pod: p, ...(used !== undefined ? { usageBytes: used } : {}), containers: new Map(used !== undefined ? [['app', used]] : []), requestBytes: request });

describe('memory pressure (the kubelet\'s eviction manager)', () => {
  it('memoryEvictionMessage - the kubelet\'s text: threshold, available, each container over its request, every part ending in ". "', () => {
    const [threshold] = parseThresholds('memory.available<100Mi');
    const msg = memoryEvictionMessage(usage(pod('hog'), 150n * Mi), threshold, 80n * Mi, 4096n * Mi);
    expect(msg).toBe('The node was low on resource: memory. Threshold quantity: 100Mi, available: 80Mi. Container app was using 150Mi, request is 0, has larger consumption of memory. ');
    // A container within its request is not named; a byte count that is no exact Mi prints as Ki or bytes.
    const within = memoryEvictionMessage(usage(pod('ok', { request: '200Mi' }), 150n * Mi, 200n * Mi), threshold, 80n * Mi + 1024n, 4096n * Mi);
    expect(within).toBe('The node was low on resource: memory. Threshold quantity: 100Mi, available: 81921Ki. ');
    // A percentage threshold prints as the bytes it stands for (capacity × float32(10 %), truncated); a request as its quantity.
    const [pct] = parseThresholds('memory.available<10%');
    expect(memoryEvictionMessage(usage(pod('r', { request: '64Mi' }), 100n * Mi, 64n * Mi), pct, 300n * Mi, 4096n * Mi)).toBe(
      'The node was low on resource: memory. Threshold quantity: 429496736, available: 300Mi. Container app was using 100Mi, request is 64Mi, has larger consumption of memory. ',
    );
  });

  it('rankMemoryPressure - pods without stats, then those over their requests, then lower priority, then more usage over request', () => {
    const ranked = rankMemoryPressure([
      usage(pod('guaranteed', { priority: 0 }), 50n * Mi, 100n * Mi),
      usage(pod('hog', { priority: 0 }), 300n * Mi, 0n),
      usage(pod('small-hog', { priority: 0 }), 120n * Mi, 0n),
      usage(pod('important-hog', { priority: 1000 }), 900n * Mi, 0n),
      usage(pod('no-stats'), undefined),
      usage(pod('low-within', { priority: -10 }), 10n * Mi, 100n * Mi),
    ]);
    expect(ranked.map((u) => u.pod.metadata!.name)).toEqual(['no-stats', 'hog', 'small-hog', 'important-hog', 'low-within', 'guaranteed']);
  });

  it('isCriticalPod - static and mirror pods, and priority at least system-critical', () => {
    expect(isCriticalPod(pod('a'))).toBe(false);
    expect(isCriticalPod(pod('b', { priority: 2_000_000_000 }))).toBe(true);
    expect(isCriticalPod(pod('c', { priority: 1_999_999_999 }))).toBe(false);
    expect(isCriticalPod(pod('d', { annotations: { 'kubernetes.io/config.source': 'file' } }))).toBe(true);
    expect(isCriticalPod(pod('e', { annotations: { 'kubernetes.io/config.mirror': 'abc' } }))).toBe(true);
  });

  it('admitUnderPressure - MemoryPressure refuses only BestEffort pods not tolerating its taint; PIDPressure refuses all; critical pods always pass', () => {
    const refused = 'The node had condition: [MemoryPressure]. ';
    expect(admitUnderPressure(pod('be'), [])).toBeUndefined();
    expect(admitUnderPressure(pod('be'), ['MemoryPressure'])).toBe(refused);
    expect(admitUnderPressure(pod('burstable', { request: '10Mi' }), ['MemoryPressure'])).toBeUndefined();
    expect(admitUnderPressure(pod('tolerant', { tolerations: [{ key: 'node.kubernetes.io/memory-pressure', operator: 'Exists', effect: 'NoSchedule' }] }), ['MemoryPressure'])).toBeUndefined();
    expect(admitUnderPressure(pod('wrong-effect', { tolerations: [{ key: 'node.kubernetes.io/memory-pressure', operator: 'Exists', effect: 'NoExecute' }] }), ['MemoryPressure'])).toBe(refused);
    expect(admitUnderPressure(pod('burstable', { request: '10Mi' }), ['PIDPressure'])).toBe('The node had condition: [PIDPressure]. ');
    expect(admitUnderPressure(pod('burstable', { request: '10Mi' }), ['MemoryPressure', 'PIDPressure'])).toBe('The node had condition: [MemoryPressure PIDPressure]. ');
    expect(admitUnderPressure(pod('critical', { priority: 2_000_000_000 }), ['PIDPressure'])).toBeUndefined();
  });

  it('parseThresholds - keeps how an absolute quantity prints (its suffix\'s format)', () => {
    expect(parseThresholds('memory.available<100Mi,nodefs.available<500M,pid.available<5%')).toEqual([
      { signal: 'memory.available', quantity: 100n * Mi, format: 'BinarySI' },
      { signal: 'nodefs.available', quantity: 500_000_000n, format: 'DecimalSI' },
      { signal: 'pid.available', percentage: Math.fround(0.05) },
    ]);
  });
});
