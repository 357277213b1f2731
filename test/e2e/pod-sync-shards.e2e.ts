import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CoreV1Api, V1Pod } from '@kubernetes/client-node';
import { POD_SYNC_SHARDS, shardOf } from '@splitlet/bus';
import { rendezvousOwner, shardKey } from '@splitlet/service';
import { labBusEnv, podTestNames, runCommand, startPodTestNode, startServiceProcess, waitFor, type PodTestNode, type ServiceProcess } from '@splitlet/testing';

// Two pod-syncs for one node (issue 19): they split the node's pods by UID shard, each
// the one that syncs its shards' pods; the holder of shard 0 leads (admission,
// evictions, the node shutdown, garbage collection). A replica that stops lets its
// shards go at once; one killed (SIGKILL) has them taken over once its heartbeat stood
// still for the lease. What a pod's syncing replica knew of it (its crash-loop back-off)
// goes with it, and no pod is ever synced by both (the ownership log: each shard's
// holding intervals, from both replicas' logs, never overlap).
const names = podTestNames('e2e-pssh');
const { nodeName, namespace } = names;
const FIRST = 'ps-a';
const ALL = [...Array(POD_SYNC_SHARDS).keys()];
const mineOf = (id: string) => ALL.filter((s) => rendezvousOwner(shardKey(s), [FIRST, id]) === id);
/** The second replica: the first id that leads (holds shard 0) beside FIRST and holds a fair share, not nearly all. */
const SECOND = [...Array(200).keys()].map((n) => `ps-b${n}`).find((id) => {
  const mine = mineOf(id);
  return mine.includes(0) && mine.length >= 3 && mine.length <= POD_SYNC_SHARDS - 3;
})!;
const SECOND_SHARDS = mineOf(SECOND);

const podOf = (name: string, command = ['sleep', '3600']): V1Pod => ({
  metadata: { name, namespace },
  spec: { nodeName, terminationGracePeriodSeconds: 1, containers: [{ name: 'app', image: 'splitlet-lab/testbox:1', command }] },
});

/** Each shard's holding intervals in a replica's log: [from, to) in ms (to: Infinity while held; a killed replica's, when it died). */
function holdings(p: ServiceProcess): Map<number, [number, number][]> {
  const diedAt = deaths.get(p) ?? Infinity;
  const out = new Map<number, [number, number][]>();
  for (const l of p.logs) {
    const shard = Number(l['shard']);
    const at = Date.parse(String(l['time']));
    const list = out.get(shard) ?? [];
    if (l['msg'] === 'syncing the pods of a shard') list.push([at, diedAt]);
    if (l['msg'] === 'stopped syncing the pods of a shard' && list.length) list[list.length - 1]![1] = at;
    out.set(shard, list);
  }
  return out;
}
/** When each replica killed here died. */
const deaths = new Map<ServiceProcess, number>();
const heldShards = (p: ServiceProcess) => [...holdings(p)].filter(([, l]) => l.at(-1)?.[1] === Infinity).map(([s]) => s).sort((a, b) => a - b);

const dockerIdsOf = async (uid: string) =>
  (await runCommand('docker', ['ps', '-aq', '--no-trunc', '--filter', `label=io.kubernetes.pod.uid=${uid}`])).stdout.split('\n').filter(Boolean).sort();

describe('pod-sync replicas', () => {
  let t: PodTestNode;
  let core: CoreV1Api;
  let second: ServiceProcess | undefined;
  const secondEnv = async () => ({ ...(await labBusEnv(nodeName, 'pod-sync')), ...t.node.env, SPLITLET_POD_SYNC_REPLICA_ID: SECOND });
  const running = (name: string, ms = 60_000) =>
    waitFor(`${name} Running`, async () => {
      const p = await core.readNamespacedPod({ namespace, name });
      return p.status?.containerStatuses?.[0]?.state?.running ? p : undefined;
    }, ms);
  /** Creates pods named prefix-0, -1, ... until one falls in a shard `want` holds; returns its name and UID (the others stay). */
  const createIn = async (prefix: string, shards: number[], command?: string[]) => {
    for (let i = 0; i < 30; i++) {
      const name = `${prefix}-${i}`;
      const uid = (await core.createNamespacedPod({ namespace, body: podOf(name, command) })).metadata!.uid!;
      if (shards.includes(shardOf(uid, POD_SYNC_SHARDS))) return { name, uid };
      if (command) await core.deleteNamespacedPod({ namespace, name, gracePeriodSeconds: 0 });
    }
    throw new Error(`no pod of 30 fell in shards ${shards.join()}`);
  };
  /** No shard was ever held by both replicas at once. */
  const neverTwice = () => {
    const a = holdings(t.node.procs['pod-sync']!);
    const b = second ? holdings(second) : new Map<number, [number, number][]>();
    for (const shard of ALL) {
      for (const [from1, to1] of a.get(shard) ?? []) {
        for (const [from2, to2] of b.get(shard) ?? []) expect(from1 < to2 && from2 < to1, `shard ${shard} held by both: [${from1}, ${to1}) and [${from2}, ${to2})`).toBe(false);
      }
    }
  };

  beforeAll(async () => {
    t = await startPodTestNode(names, { mode: 'separate', env: { SPLITLET_POD_SYNC_REPLICA_ID: FIRST } });
    core = t.core;
  });
  afterAll(async () => {
    if (second && second.child.exitCode === null && second.child.signalCode === null) second.kill('SIGTERM');
    await second?.exited;
    await t?.stop();
  });

  it('pod-sync - a second replica takes its share of the shards (shard 0 with it: it leads now); pods of both shares run, each container created once', async () => {
    const first = t.node.procs['pod-sync']!;
    await waitFor('the first replica syncs every shard', async () => (heldShards(first).length === POD_SYNC_SHARDS ? true : undefined), 15_000);
    const early = await createIn('early', ALL.filter((s) => !SECOND_SHARDS.includes(s)));
    const earlyPod = await running(early.name);
    second = startServiceProcess('pod-sync', await secondEnv());
    await waitFor(`the second replica syncs shards ${SECOND_SHARDS.join()}, the first the others`, async () =>
      heldShards(second!).join() === SECOND_SHARDS.join() && heldShards(first).join() === ALL.filter((s) => !SECOND_SHARDS.includes(s)).join() ? true : undefined, 20_000);
    // New pods until both shares have some; the leader (the second) admits them all.
    const ofSecond = await createIn('two', SECOND_SHARDS);
    const ofFirst = await createIn('one', ALL.filter((s) => !SECOND_SHARDS.includes(s)));
    for (const p of [ofSecond, ofFirst]) {
      const pod = await running(p.name);
      expect(pod.status?.containerStatuses?.[0]?.restartCount).toBe(0);
      expect(await dockerIdsOf(p.uid)).toHaveLength(2); // the sandbox and the app container
    }
    // The pod that ran before the split is left as it was.
    const now = await core.readNamespacedPod({ namespace, name: early.name });
    expect(now.status?.containerStatuses?.[0]?.containerID).toBe(earlyPod.status?.containerStatuses?.[0]?.containerID);
    neverTwice();
  });

  it("pod-sync - the leading replica killed (SIGKILL) while a container of its share waits out a back-off: the other takes its shards once its heartbeat stood still for the lease, goes on with that back-off, leads, and runs a pod created meanwhile", async () => {
    const first = t.node.procs['pod-sync']!;
    const crashing = await createIn('crash', SECOND_SHARDS, ['sh', '-c', 'exit 1']);
    const app = async () => (await core.readNamespacedPod({ namespace, name: crashing.name })).status?.containerStatuses?.[0];
    const waiting = await waitFor('crashing in its 20 s back-off', async () => {
      const st = await app();
      return st?.restartCount === 2 && st.state?.waiting?.reason === 'CrashLoopBackOff' ? st : undefined;
    }, 60_000);
    const steady = await createIn('steady', SECOND_SHARDS);
    const steadyPod = await running(steady.name);
    second!.kill('SIGKILL');
    await second!.exited;
    const killedAt = Date.now();
    deaths.set(second!, killedAt);
    // Admitted by the next leader once it holds shard 0.
    const late = await createIn('late', SECOND_SHARDS);
    await waitFor('the first replica syncs every shard again', async () => (heldShards(first).length === POD_SYNC_SHARDS ? true : undefined), 30_000);
    const tookOver = Date.parse(String(first.logs.findLast((l) => l['msg'] === 'syncing the pods of a shard' && l['shard'] === 0)!['time'])) - killedAt;
    expect(tookOver).toBeLessThan(10_000);
    await running(late.name);
    // The back-off went on: the next restart 20 s after the last exit, then a delay of 40 s.
    const next = await waitFor('the next restart', async () => {
      const st = await app();
      return st?.restartCount === 3 && st.state?.waiting?.reason === 'CrashLoopBackOff' ? st : undefined;
    }, 60_000);
    expect(next.state?.waiting?.message).toContain('back-off 40s');
    expect(Date.parse(String(next.lastState?.terminated?.startedAt)) - Date.parse(String(waiting.lastState?.terminated?.finishedAt))).toBeGreaterThanOrEqual(19_000);
    // The steady pod's containers are the ones it had.
    expect((await core.readNamespacedPod({ namespace, name: steady.name })).status?.containerStatuses?.[0]?.containerID).toBe(steadyPod.status?.containerStatuses?.[0]?.containerID);
    expect(await dockerIdsOf(steady.uid)).toHaveLength(2);
    neverTwice();
  }, 150_000);

  it('pod-sync - a replica that stops (SIGTERM) lets its shards go at once: the other syncs them within a look, and a pod of them deleted then is cleaned up', async () => {
    const first = t.node.procs['pod-sync']!;
    second = startServiceProcess('pod-sync', await secondEnv());
    await waitFor('the second replica back with its share', async () => (heldShards(second!).join() === SECOND_SHARDS.join() ? true : undefined), 30_000);
    const doomed = await createIn('doomed', SECOND_SHARDS);
    await running(doomed.name);
    second.kill('SIGTERM');
    await second.exited;
    const stoppedAt = Date.now();
    await waitFor('the first replica syncs every shard again', async () => (heldShards(first).length === POD_SYNC_SHARDS ? true : undefined), 10_000);
    const tookAt = Math.max(...SECOND_SHARDS.map((s) => Date.parse(String(first.logs.findLast((l) => l['msg'] === 'syncing the pods of a shard' && l['shard'] === s)!['time']))));
    expect(tookAt - stoppedAt).toBeLessThan(2_000);
    await core.deleteNamespacedPod({ namespace, name: doomed.name });
    await waitFor(`${doomed.name} gone`, async () => ((await core.listNamespacedPod({ namespace, fieldSelector: `metadata.name=${doomed.name}` })).items.length === 0 ? true : undefined), 30_000);
    await waitFor(`${doomed.name}'s containers removed`, async () => ((await dockerIdsOf(doomed.uid)).length === 0 ? true : undefined), 30_000);
    neverTwice();
  });
});
