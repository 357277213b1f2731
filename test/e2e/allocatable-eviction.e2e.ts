import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CoreV1Api } from '@kubernetes/client-node';
import { podTestNames, runCommand, startPodTestNode, waitFor, type TestNode } from '@splitlet/testing';
import { guaranteedSleeper, meminfo, memoryHog } from './setup/memory-pods';

// allocatableMemory.available, the kubelet's default --enforce-node-allocatable=pods:
// memory.available's hard threshold (the default 100Mi) holds for what the pods have
// left of capacity less --system-reserved and --kube-reserved. The machine keeps its
// gigabytes free; the reservation is set so that the pods' limit is 50 MiB above what
// they use now, so only the pods are short.
const names = podTestNames('e2e-alloc');
const { nodeName, namespace } = names;
let core: CoreV1Api;
let node: TestNode;
let stopNode: (() => Promise<void>) | undefined;

const Mi = 2n ** 20n;
const read = (name: string) => core.readNamespacedPod({ namespace, name });
/** A container's working set as Docker's CLI prints it ("145.3MiB / 23.47GiB"), in bytes. */
const workingSet = async (id: string): Promise<bigint> => {
  const used = (await runCommand('docker', ['stats', '--no-stream', '--format', '{{.MemUsage}}', id])).stdout.trim();
  const m = /^([\d.]+)(B|KiB|MiB|GiB)/.exec(used);
  if (!m) throw new Error(`docker stats: ${used}`);
  const unit = { B: 1, KiB: 1024, MiB: 1024 ** 2, GiB: 1024 ** 3 }[m[2] as 'B' | 'KiB' | 'MiB' | 'GiB'];
  return BigInt(Math.round(Number(m[1]) * unit));
};

const hog = memoryHog(namespace, nodeName);
const guaranteed = guaranteedSleeper(namespace, nodeName);

describe('node-pressure eviction (allocatableMemory.available)', () => {
  beforeAll(async () => {
    ({ core, node, stop: stopNode } = await startPodTestNode(names));
  });
  afterAll(async () => {
    await stopNode?.();
  });

  it('pod-sync - the pods using more than capacity less the reserved memory leaves them: the BestEffort hog is evicted with the kubelet\'s message and MemoryPressure is reported, though the machine has memory to spare; the Guaranteed pod stays', async () => {
    await core.createNamespacedPod({ namespace, body: guaranteed });
    await core.createNamespacedPod({ namespace, body: hog });
    for (const name of ['guaranteed', 'hog']) await waitFor(`${name} Running`, async () => ((await read(name)).status?.phase === 'Running' ? true : undefined), 60_000);
    const idOf = async (name: string) => (await read(name)).status!.containerStatuses![0]!.containerID!.replace('docker://', '');
    const [hogId, guaranteedId] = [await idOf('hog'), await idOf('guaranteed')];
    await waitFor('the hog using its memory', async () => ((await workingSet(hogId)) >= 100n * Mi ? true : undefined), 30_000);

    // The pods' limit: 50 MiB above what the node's two containers use now.
    const pods = (await workingSet(hogId)) + (await workingSet(guaranteedId));
    const mem = await meminfo();
    const reservedMi = (mem['MemTotal']! - pods - 50n * Mi) / Mi;
    expect(mem['MemFree']! + (mem['Inactive(file)'] ?? 0n)).toBeGreaterThan(1024n * Mi); // memory.available<100Mi is far off
    node.env['SPLITLET_SYSTEM_RESERVED'] = `memory=${reservedMi}Mi`;
    node.env['SPLITLET_EVICTION_MONITORING_MS'] = '2000';
    for (const service of ['pod-sync', 'registrar'] as const) {
      await node.stop(service);
      await node.start(service);
    }

    const evicted = await waitFor('hog Evicted', async () => {
      const p = await read('hog');
      return p.status?.phase === 'Failed' ? p : undefined;
    }, 60_000);
    const message = evicted.status?.message ?? '';
    expect(evicted.status?.reason).toBe('Evicted');
    const m = /^The node was low on resource: memory\. Threshold quantity: 100Mi, available: (\d+)(Ki|Mi)\. Container app was using \d+(Ki|Mi), request is 0, has larger consumption of memory\. $/.exec(message);
    expect(m, message).not.toBeNull();
    // What the pods had left (not what the machine had): under the 100Mi threshold.
    expect(BigInt(m![1]!) * (m![2] === 'Mi' ? Mi : 1024n)).toBeLessThan(100n * Mi);
    expect(evicted.status?.conditions?.find((c) => c.type === 'DisruptionTarget')).toMatchObject({ status: 'True', reason: 'TerminationByKubelet', message });
    await waitFor('MemoryPressure', async () => ((await core.readNode({ name: nodeName })).status?.conditions?.find((c) => c.type === 'MemoryPressure')?.status === 'True' ? true : undefined), 40_000);

    // With the hog gone the pods have their room again: the Guaranteed pod runs on through more looks.
    await waitFor('the hog stopped', async () => ((await runCommand('docker', ['inspect', '-f', '{{.State.Running}}', hogId])).stdout.trim() === 'false' ? true : undefined), 30_000);
    await new Promise((r) => setTimeout(r, 6_000));
    expect((await read('guaranteed')).status?.phase).toBe('Running');
  }, 300_000);
});
