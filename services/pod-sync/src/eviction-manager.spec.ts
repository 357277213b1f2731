import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { V1Pod } from '@kubernetes/client-node';
import { create } from '@bufbuild/protobuf';
import { ContainerStatsSchema } from '@splitlet/contracts';
import { parseThresholds } from '@splitlet/eviction';
import { createLogger } from '@splitlet/telemetry';
import { FakeClock } from '@splitlet/testing';
import { EvictionManager } from './eviction-manager';
import type { Eviction } from './pod-syncer';

const Mi = 1024n * 1024n;
/** A host root whose /proc/meminfo leaves `availableMi` available of 4 GiB (MemFree, no inactive file pages). */
function hostRoot(availableMi: number): string {
  const root = mkdtempSync(join(tmpdir(), 'eviction-'));
  mkdirSync(join(root, 'proc'));
  writeFileSync(join(root, 'proc/meminfo'), `MemTotal:        4194304 kB\nMemFree:         ${availableMi * 1024} kB\nMemAvailable:    ${availableMi * 1024} kB\nInactive(file):        0 kB\n`);
  return root;
}
const pod = (name: string, o: { request?: string; priority?: number } = {}): V1Pod => ({
  metadata: { name, namespace: 'ns', uid: `uid-${name}` },
  spec: { ...(o.priority !== undefined ? { priority: o.priority } : {}), containers: [{ name: 'app', ...(o.request ? { resources: { requests: { memory: o.request }, limits: { memory: o.request } } } : {}) }] },
  status: { phase: 'Running', startTime: new Date() },
});
const stats = (uid: string, used: bigint) => create(ContainerStatsSchema, { id: uid, labels: { 'io.kubernetes.pod.uid': uid, 'io.kubernetes.container.name': 'app' }, memoryWorkingSetBytes: used });

function manager(availableMi: number, pods: V1Pod[], usage: Record<string, bigint>) {
  const evicted: { pod: string; eviction: Eviction }[] = [];
  const m = new EvictionManager({
    thresholds: parseThresholds('memory.available<100Mi'),
    hostRoot: hostRoot(availableMi),
    runtime: { listContainerStats: async () => ({ stats: Object.entries(usage).map(([uid, used]) => stats(uid, used)) }) } as never,
    pods: () => pods,
    active: () => true,
    evict: (p, eviction) => evicted.push({ pod: p.metadata!.name!, eviction }),
    clock: new FakeClock(),
    logger: createLogger('pod-sync', { level: 'silent' }),
    intervalMs: 10_000,
  });
  return { m, evicted };
}

describe('EvictionManager (memory.available)', () => {
  it('EvictionManager - below the threshold: one pod per look, the one over its request first, with the kubelet\'s message and 1 s of grace; a critical pod never', async () => {
    const pods = [pod('guaranteed', { request: '64Mi' }), pod('hog'), pod('critical', { priority: 2_000_000_000 })];
    const { m, evicted } = manager(80, pods, { 'uid-guaranteed': 32n * Mi, 'uid-hog': 150n * Mi, 'uid-critical': 900n * Mi });
    await m.synchronize();
    expect(evicted).toEqual([
      { pod: 'hog', eviction: { gracePeriodSeconds: 1, message: 'The node was low on resource: memory. Threshold quantity: 100Mi, available: 80Mi. Container app was using 150Mi, request is 0, has larger consumption of memory. ' } },
    ]);
    await m.synchronize();
    expect(evicted.map((e) => e.pod)).toEqual(['hog', 'guaranteed']);
    expect(evicted[1]!.eviction.message).toBe('The node was low on resource: memory. Threshold quantity: 100Mi, available: 80Mi. ');
    // Only the critical pod is left: it is not evicted.
    expect(await m.synchronize()).toBeUndefined();
    expect(evicted).toHaveLength(2);
  });

  it('EvictionManager - above the threshold nothing is evicted; terminating and finished pods are not candidates', async () => {
    const { m, evicted } = manager(500, [pod('hog')], { 'uid-hog': 150n * Mi });
    expect(await m.synchronize()).toBeUndefined();
    const done = { ...pod('done'), status: { phase: 'Failed' } };
    const going = { ...pod('going'), metadata: { ...pod('going').metadata, deletionTimestamp: new Date() } };
    const low = manager(80, [done, going], { 'uid-done': 150n * Mi, 'uid-going': 150n * Mi });
    expect(await low.m.synchronize()).toBeUndefined();
    expect([...evicted, ...low.evicted]).toEqual([]);
  });
});
