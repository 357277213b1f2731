import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CoreV1Api, V1Pod } from '@kubernetes/client-node';
import { podTestNames, startPodTestNode, waitFor } from '@splitlet/testing';

// Local storage limits, as the kubelet's eviction manager enforces them
// (LocalStorageCapacityIsolation, on by default): a container writing past its
// ephemeral-storage limit, and a pod filling an emptyDir past its sizeLimit, are
// evicted. 20 MB each, real files on the node's disk.
const names = podTestNames('e2e-local-storage');
const { nodeName, namespace } = names;
let core: CoreV1Api;
let stopNode: (() => Promise<void>) | undefined;

const read = (name: string) => core.readNamespacedPod({ namespace, name });
const evictedEvents = async (name: string) => (await core.listNamespacedEvent({ namespace, fieldSelector: `involvedObject.name=${name},reason=Evicted` })).items;

/** Writes 20 MiB at `path`, then sleeps (sh as PID 1: SIGTERM does not end it). */
const writer = (name: string, path: string, extra: Partial<NonNullable<V1Pod['spec']>> = {}, resources = {}): V1Pod => ({
  metadata: { name, namespace },
  spec: {
    nodeName,
    terminationGracePeriodSeconds: 30,
    containers: [{ name: 'app', image: 'splitlet-lab/testbox:1', command: ['sh', '-c', `dd if=/dev/zero of=${path} bs=1048576 count=20 && sleep 3600`], resources }],
    ...extra,
  },
});

async function evicted(name: string): Promise<V1Pod> {
  return waitFor(`${name} Evicted`, async () => {
    const p = await read(name);
    return p.status?.phase === 'Failed' && p.status.containerStatuses?.[0]?.state?.terminated ? p : undefined;
  }, 90_000);
}

describe('local storage limits', () => {
  beforeAll(async () => {
    ({ core, stop: stopNode } = await startPodTestNode(names, { env: { SPLITLET_EVICTION_MONITORING_MS: '2000' } }));
  });
  afterAll(async () => {
    await stopNode?.();
  });

  it('pod-sync - a container past its ephemeral-storage limit is evicted: Failed, Evicted, the kubelet\'s message and Event, no DisruptionTarget; a pod within its limit runs on', async () => {
    // Within the pod's total (10Mi + 100Mi), over its own 10Mi: the container's message.
    const over = writer('over', '/big', {}, { limits: { 'ephemeral-storage': '10Mi' } });
    over.spec!.containers.push({ name: 'idle', image: 'splitlet-lab/testbox:1', command: ['sleep', '3600'], resources: { limits: { 'ephemeral-storage': '100Mi' } } });
    await core.createNamespacedPod({ namespace, body: over });
    await core.createNamespacedPod({ namespace, body: writer('within', '/big', {}, { limits: { 'ephemeral-storage': '100Mi' } }) });
    const p = await evicted('over');
    const message = 'Container app exceeded its local ephemeral storage limit "10Mi". ';
    expect([p.status?.reason, p.status?.message]).toEqual(['Evicted', message]);
    expect(p.status?.conditions?.find((c) => c.type === 'DisruptionTarget')).toBeUndefined();
    expect(p.status?.containerStatuses?.map((c) => [c.name, c.state?.terminated?.exitCode])).toEqual([['app', 137], ['idle', 137]]);
    const events = await waitFor('the Evicted Event', async () => {
      const items = await evictedEvents('over');
      return items.length ? items : undefined;
    });
    expect(events.map((e) => [e.type, e.message, e.count])).toEqual([['Warning', message, 1]]);
    // The other pod wrote as much, within its 100Mi: still running, no Event.
    const within = await read('within');
    expect(within.status?.phase).toBe('Running');
    expect(within.status?.containerStatuses?.[0]?.state?.running).toBeDefined();
    expect(await evictedEvents('within')).toEqual([]);
  }, 180_000);

  it('pod-sync - a one-container pod past its limit is evicted for the pod\'s total, checked first', async () => {
    await core.createNamespacedPod({ namespace, body: writer('alone', '/big', {}, { limits: { 'ephemeral-storage': '10Mi' } }) });
    const p = await evicted('alone');
    expect([p.status?.reason, p.status?.message]).toEqual(['Evicted', 'Pod ephemeral local storage usage exceeds the total limit of containers 10Mi. ']);
  }, 180_000);

  it('pod-sync - a pod filling an emptyDir past its sizeLimit is evicted with the kubelet\'s message', async () => {
    const body = writer('full-volume', '/scratch/big', { volumes: [{ name: 'scratch', emptyDir: { sizeLimit: '10Mi' } }] });
    body.spec!.containers[0]!.volumeMounts = [{ name: 'scratch', mountPath: '/scratch' }];
    await core.createNamespacedPod({ namespace, body });
    const p = await evicted('full-volume');
    expect([p.status?.reason, p.status?.message]).toEqual(['Evicted', 'Usage of EmptyDir volume "scratch" exceeds the limit "10Mi". ']);
    expect(p.status?.conditions?.find((c) => c.type === 'DisruptionTarget')).toBeUndefined();
  }, 180_000);
});
