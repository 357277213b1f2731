import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CoreV1Api, V1Pod } from '@kubernetes/client-node';
import { podTestNames, startPodTestNode, startScratchDocker, waitFor, type ScratchDocker, type TestNode } from '@splitlet/testing';

// Node-pressure eviction for inodes, as the kubelet's eviction manager: the node's
// runtime-executor drives a Docker engine of this test's own whose data root is a
// loop-mounted ext4 with few inodes (startScratchDocker); nodefs.inodesFree's hard
// threshold is set 2000 below what is free once the engine runs, so a pod creating
// 3000 files in its container takes the node under it. Nothing is left to reclaim
// (no dead container, no unused image the node pulled): the pod using the most inodes
// goes, and its layer with the next look's reclaim.
const names = podTestNames('e2e-inodeevict');
const { nodeName, namespace } = names;
const HEADROOM = 2000;
const FILES = 3000;
let core: CoreV1Api;
let scratch: ScratchDocker | undefined;
let stopNode: (() => Promise<void>) | undefined;
let node: TestNode;
let threshold = 0n;

const podOf = (name: string, script: string): V1Pod => ({
  metadata: { name, namespace },
  spec: { nodeName, terminationGracePeriodSeconds: 1, restartPolicy: 'Never', containers: [{ name: 'app', image: 'splitlet-lab/testbox:1', command: ['sh', '-c', script] }] },
});
const read = (name: string) => core.readNamespacedPod({ namespace, name });

describe('node-pressure eviction (nodefs.inodesFree)', () => {
  beforeAll(async () => {
    scratch = await startScratchDocker({ sizeMiB: 256, inodes: 16_384, images: ['splitlet-lab/pause:1', 'splitlet-lab/testbox:1'] });
    threshold = (await scratch.usage()).inodesFree - BigInt(HEADROOM);
    ({ core, node, stop: stopNode } = await startPodTestNode(names, {
      env: {
        DOCKER_HOST: scratch.host,
        SPLITLET_EVICTION_HARD: `memory.available<1Mi,nodefs.inodesFree<${threshold}`,
        SPLITLET_EVICTION_MONITORING_MS: '1000',
      },
    }));
  }, 120_000);
  afterAll(async () => {
    await stopNode?.();
    await scratch?.stop();
  });

  it('pod-sync - the pod using the most inodes is evicted: Failed, Evicted, the kubelet\'s inodes message, DisruptionTarget and an Event; its layer goes with the next reclaim; the quiet pod stays', async () => {
    await core.createNamespacedPod({ namespace, body: podOf('quiet', 'sleep 3600') });
    await waitFor('quiet Running', async () => ((await read('quiet')).status?.phase === 'Running' ? true : undefined), 60_000);
    await core.createNamespacedPod({ namespace, body: podOf('writer', `mkdir /many && cd /many && i=0; while [ $i -lt ${FILES} ]; do : > f$i; i=$((i+1)); done; sleep 3600`) });
    const evicted = await waitFor('writer evicted', async () => {
      const p = await read('writer');
      return p.status?.phase === 'Failed' ? p : undefined;
    }, 90_000);
    expect(evicted.status?.reason).toBe('Evicted');
    expect(evicted.status?.message).toMatch(/^The node was low on resource: inodes\. Threshold quantity: \d+k?, available: \d+k?\. $/);
    const [, quantity, available] = /Threshold quantity: (\d+k?), available: (\d+k?)/.exec(evicted.status!.message!)!;
    const count = (q: string) => (q.endsWith('k') ? BigInt(q.slice(0, -1)) * 1000n : BigInt(q));
    expect(count(quantity!)).toBe(threshold);
    expect(count(available!)).toBeLessThan(threshold);
    expect(evicted.status?.conditions?.find((c) => c.type === 'DisruptionTarget')).toMatchObject({ status: 'True', reason: 'TerminationByKubelet', message: evicted.status?.message });
    const event = await waitFor('the Evicted Event', async () => (await core.listNamespacedEvent({ namespace, fieldSelector: 'involvedObject.name=writer,reason=Evicted' })).items[0], 30_000);
    expect(event).toMatchObject({ type: 'Warning', message: evicted.status?.message });
    // The evicted pod finished: the next look's reclaim removes its dead container, and its files with it.
    await waitFor('inodes above the threshold again', async () => ((await scratch!.usage()).inodesFree > threshold ? true : undefined), 60_000);
    await new Promise((r) => setTimeout(r, 3_000));
    expect((await read('quiet')).status?.phase).toBe('Running');
  });

  it('pod-sync - a pod the API server does not show started yet (status-reporter away) is still ranked: it is the one evicted, not the quiet pod', async () => {
    // The kubelet's active pods are the ones it admitted, not the ones whose status came
    // back with a startTime: with no status written, the writer must still rank first.
    const decisions = () => node.procs['pod-sync']!.logs.filter((l) => l['msg'] === 'eviction manager: evicting a pod to reclaim inodes');
    const earlier = decisions().length;
    await node.stop('status-reporter');
    await core.createNamespacedPod({ namespace, body: podOf('writer2', `mkdir /many && cd /many && i=0; while [ $i -lt ${FILES} ]; do : > f$i; i=$((i+1)); done; sleep 3600`) });
    const decision = await waitFor('the next eviction decision', async () => decisions()[earlier], 90_000);
    expect(decision['pod']).toBe(`${namespace}/writer2`);
    expect((await read('writer2')).status?.startTime).toBeUndefined();
    await node.start('status-reporter');
    const evicted = await waitFor('writer2 evicted', async () => {
      const p = await read('writer2');
      return p.status?.phase === 'Failed' ? p : undefined;
    }, 60_000);
    expect(evicted.status?.reason).toBe('Evicted');
    await waitFor('inodes above the threshold again', async () => ((await scratch!.usage()).inodesFree > threshold ? true : undefined), 60_000);
    await new Promise((r) => setTimeout(r, 3_000));
    expect((await read('quiet')).status?.phase).toBe('Running');
  });
});
