import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CoreV1Api, V1Pod } from '@kubernetes/client-node';
import { podTestNames, runCommand, startPodTestNode, waitFor, type PodTestNode, type TestNode } from '@splitlet/testing';

// Any replica may die at any moment: containers keep running, nothing is duplicated,
// and what happened while a service was down is put right when it returns.
const { nodeName, namespace } = podTestNames('e2e-recover');
const podOf = (name: string): V1Pod => ({
  metadata: { name, namespace },
  spec: { nodeName, terminationGracePeriodSeconds: 2, containers: [{ name: 'app', image: 'splitlet-lab/testbox:1', command: ['sleep', '3600'] }] },
});
const dockerIdsOf = async (uid: string) =>
  (await runCommand('docker', ['ps', '-aq', '--no-trunc', '--filter', `label=io.kubernetes.pod.uid=${uid}`])).stdout.split('\n').filter(Boolean).sort();

describe('recovery', () => {
  let pods: PodTestNode;
  let core: CoreV1Api;
  let node: TestNode;
  // registrar too: without a Node object, the controller manager's pod GC force-deletes
  // the pods bound to the node 40–60 s after it first sees them (CI rehearsal 10 lost the
  // crash-looping pod so, mid-test). Separate processes: the tests kill one service.
  beforeAll(async () => {
    pods = await startPodTestNode({ nodeName, namespace }, { env: { SPLITLET_POD_RESYNC_MS: '1000' }, mode: 'separate' });
    ({ core, node } = pods);
  });
  afterAll(async () => {
    await pods?.stop();
  });

  it('pod-sync - pod-sync and runtime-executor killed (SIGKILL) while a pod runs: same containers, same restart count, no duplicates', async () => {
    const pod = await core.createNamespacedPod({ namespace, body: podOf('steady') });
    const uid = pod.metadata!.uid!;
    const running = await waitFor('steady Running', async () => {
      const p = await core.readNamespacedPod({ namespace, name: 'steady' });
      return p.status?.phase === 'Running' ? p : undefined;
    }, 60_000);
    const before = await dockerIdsOf(uid);
    expect(before).toHaveLength(2); // the sandbox and the app container
    await node.stop('pod-sync', 'SIGKILL');
    await node.stop('runtime-executor', 'SIGKILL');
    await node.start('runtime-executor');
    const podSync = await node.start('pod-sync');
    await podSync.waitForLog((l) => l['msg'] === 'watching the pods bound to this node');
    await new Promise((r) => setTimeout(r, 5000)); // several resyncs
    expect(await dockerIdsOf(uid)).toEqual(before);
    const after = await core.readNamespacedPod({ namespace, name: 'steady' });
    expect(after.status?.containerStatuses?.[0]?.containerID).toBe(running.status?.containerStatuses?.[0]?.containerID);
    expect(after.status?.containerStatuses?.[0]?.restartCount).toBe(0);
    expect(after.status?.phase).toBe('Running');
  });

  it('pod-sync - killed (SIGKILL) while a container waits out its crash-loop back-off: the next pod-sync goes on with that back-off (no restart at once, the delay doubles on)', async () => {
    const body = podOf('crashing');
    body.spec!.containers[0]!.command = ['sh', '-c', 'exit 1'];
    await core.createNamespacedPod({ namespace, body });
    const app = async () => (await core.readNamespacedPod({ namespace, name: 'crashing' })).status?.containerStatuses?.[0];
    // The first restart is at once, the second after 10 s: then a back-off of 20 s runs.
    const waiting = await waitFor('crashing in its 20 s back-off', async () => {
      const st = await app();
      return st?.restartCount === 2 && st.state?.waiting?.reason === 'CrashLoopBackOff' ? st : undefined;
    }, 60_000);
    expect(waiting.state?.waiting?.message).toContain('back-off 20s');
    await node.stop('pod-sync', 'SIGKILL');
    const podSync = await node.start('pod-sync');
    await podSync.waitForLog((l) => l['msg'] === 'syncing the pods of a shard');
    // A pod-sync with nothing to go on would start it at once and begin again at 10 s.
    const next = await waitFor('the next restart', async () => {
      const st = await app();
      return st?.restartCount === 3 && st.state?.waiting?.reason === 'CrashLoopBackOff' ? st : undefined;
    }, 60_000);
    expect(next.state?.waiting?.message).toContain('back-off 40s');
    const finished = Date.parse(String(waiting.lastState?.terminated?.finishedAt));
    const started = Date.parse(String(next.lastState?.terminated?.startedAt));
    expect(started - finished).toBeGreaterThanOrEqual(19_000);
  }, 120_000);

  it('pod-sync - a pod deleted (forced) while pod-sync was down: its containers are removed when pod-sync returns', async () => {
    const pod = await core.createNamespacedPod({ namespace, body: podOf('orphan') });
    const uid = pod.metadata!.uid!;
    await waitFor('orphan Running', async () => ((await core.readNamespacedPod({ namespace, name: 'orphan' })).status?.phase === 'Running' ? true : undefined), 60_000);
    await node.stop('pod-sync');
    await core.deleteNamespacedPod({ namespace, name: 'orphan', gracePeriodSeconds: 0 });
    expect((await dockerIdsOf(uid)).length).toBeGreaterThan(0);
    await node.start('pod-sync');
    await waitFor('the orphan\'s containers gone', async () => ((await dockerIdsOf(uid)).length === 0 ? true : undefined), 30_000);
  });
});
