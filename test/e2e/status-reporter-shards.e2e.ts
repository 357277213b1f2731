import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CoreV1Api, V1Pod } from '@kubernetes/client-node';
import { STATUS_SHARDS, statusShardOf } from '@splitlet/bus';
import { rendezvousOwner, shardKey } from '@splitlet/service';
import { labBusEnv, podTestNames, startPodTestNode, startServiceProcess, waitFor, type PodTestNode, type ServiceProcess } from '@splitlet/testing';

// Two status-reporters for one node (issue 19): they split the node's status shards
// (rendezvous hashing over their heartbeats), each the one writer of its shards' pod
// statuses and Events. One killed (SIGKILL), the other takes its shards over once each
// shard's lease ran out (5 s from its last heartbeat, which the other watched; looked at
// every 1 s) and the dead one's heartbeat is stale (3 s):
// a pod of those shards created meanwhile gets its status and its Events, each once.
const names = podTestNames('e2e-srsh');
const { nodeName, namespace } = names;
/** status-reporter's defaults: replica TTL, shard lease, retry period. */
const TTL_MS = 3_000;
const LEASE_MS = 5_000;
const RETRY_MS = 1_000;
const FIRST = 'sr-a';
const ALL = [...Array(STATUS_SHARDS).keys()];

/** The second replica's id: the first whose share of the shards beside FIRST is neither none nor nearly all. */
const SECOND = [...Array(100).keys()].map((n) => `sr-b${n}`).find((id) => {
  const mine = ALL.filter((s) => rendezvousOwner(shardKey(s), [FIRST, id]) === id).length;
  return mine >= 3 && mine <= STATUS_SHARDS - 3;
})!;
const SECOND_SHARDS = ALL.filter((s) => rendezvousOwner(shardKey(s), [FIRST, SECOND]) === SECOND);

const podOf = (name: string): V1Pod => ({
  metadata: { name, namespace },
  spec: { nodeName, terminationGracePeriodSeconds: 1, containers: [{ name: 'app', image: 'splitlet-lab/testbox:1', command: ['sleep', '3600'] }] },
});

/** The shards a replica writes now, from its log: each taken, less each given up. */
function heldShards(p: ServiceProcess): number[] {
  const held = new Set<number>();
  for (const l of p.logs) {
    if (l['msg'] === 'writing the statuses and Events of a shard') held.add(Number(l['shard']));
    if (l['msg'] === 'stopped writing the statuses and Events of a shard') held.delete(Number(l['shard']));
  }
  return [...held].sort((a, b) => a - b);
}

describe('status-reporter replicas', () => {
  let t: PodTestNode;
  let core: CoreV1Api;
  let second: ServiceProcess | undefined;
  const patched = (p: ServiceProcess) => new Set(p.logs.filter((l) => l['msg'] === 'pod status patched').map((l) => String(l['pod'])));
  const running = (name: string, ms: number) =>
    waitFor(`${name} Running`, async () => {
      const p = await core.readNamespacedPod({ namespace, name });
      return p.status?.containerStatuses?.[0]?.state?.running ? p : undefined;
    }, ms);
  const create = async (name: string) => (await core.createNamespacedPod({ namespace, body: podOf(name) })).metadata!.uid!;

  beforeAll(async () => {
    t = await startPodTestNode(names, { env: { SPLITLET_STATUS_REPORTER_REPLICA_ID: FIRST } });
    core = t.core;
  });
  afterAll(async () => {
    if (second && second.child.exitCode === null && second.child.signalCode === null) second.kill('SIGTERM');
    await second?.exited;
    await t?.stop();
  });

  it("status-reporter - a second replica takes its share of the shards from the first; each pod's status is written by its shard's replica only", async () => {
    const first = t.node.procs['status-reporter']!;
    await waitFor('the first replica writes every shard', async () => (heldShards(first).length === STATUS_SHARDS ? true : undefined), 15_000);
    second = startServiceProcess('status-reporter', { ...(await labBusEnv(nodeName, 'status-reporter')), ...t.node.env, SPLITLET_STATUS_REPORTER_REPLICA_ID: SECOND, LOG_LEVEL: 'debug' });
    await second.waitForLog((l) => l['msg'] === 'started', 30_000);
    const split = () => (heldShards(second!).join() === SECOND_SHARDS.join() && heldShards(first).join() === ALL.filter((s) => !SECOND_SHARDS.includes(s)).join() ? true : undefined);
    await waitFor(`the second replica writes shards ${SECOND_SHARDS.join()}, the first the others`, async () => split(), 20_000);
    const uids = new Map<string, string>();
    for (let i = 0; i < 6; i++) uids.set(`before-${i}`, await create(`before-${i}`));
    for (const name of uids.keys()) await running(name, 60_000);
    // Each status write is a debug line ('pod status patched') of the second replica (at debug level).
    // The line is written once the API has answered the patch, and reaches this process
    // through a pipe: a pod can read Running here before its writer's line arrives (CI
    // rehearsal 14: before-5 Running, its line not yet read). So wait for the lines of the
    // second's pods, then compare: a pod of the first's shards written by the second fails.
    const ofSecond = [...uids].filter(([, uid]) => SECOND_SHARDS.includes(statusShardOf(uid))).map(([name]) => `${namespace}/${name}`);
    const written = () => [...patched(second!)].filter((p) => p.includes('/before-')).sort();
    await waitFor('the second replica logged its pods\' status writes', async () => (ofSecond.every((p) => written().includes(p)) ? true : undefined), 10_000).catch(() => undefined);
    expect(written()).toEqual(ofSecond.sort());
  });

  it("status-reporter - the second replica killed (SIGKILL): the first takes its shards within a lease of its last heartbeat; a pod of those shards created meanwhile gets its status and each of its Events once", async () => {
    const first = t.node.procs['status-reporter']!;
    second!.kill('SIGKILL');
    await second!.exited;
    const killedAt = Date.now();
    // Pods until one falls in a shard the killed replica held.
    const created: string[] = [];
    let orphan: string | undefined;
    for (let i = 0; i < 20 && !orphan; i++) {
      const uid = await create(`after-${i}`);
      created.push(`after-${i}`);
      if (SECOND_SHARDS.includes(statusShardOf(uid))) orphan = `after-${i}`;
    }
    expect(orphan, 'no pod of 20 fell in the killed replica\'s shards').toBeDefined();
    await waitFor('the first replica writes every shard again', async () => (heldShards(first).length === STATUS_SHARDS ? true : undefined), TTL_MS + LEASE_MS + 5 * RETRY_MS + 5_000);
    const tookOver = Math.max(...SECOND_SHARDS.map((s) => Date.parse(String(first.logs.findLast((l) => l['msg'] === 'writing the statuses and Events of a shard' && l['shard'] === s)!['time'])))) - killedAt;
    expect(tookOver).toBeLessThan(Math.max(TTL_MS, LEASE_MS) + 3 * RETRY_MS);
    for (const name of created) await running(name, 60_000);
    // The node's Events of the pod (source kubelet), each reason's one Event with count 1.
    const events = await waitFor(`${orphan}: Started`, async () => {
      const list = (await core.listNamespacedEvent({ namespace, fieldSelector: `involvedObject.name=${orphan},source=kubelet` })).items;
      return list.some((e) => e.reason === 'Started') ? list : undefined;
    }, 30_000);
    for (const reason of ['Pulled', 'Created', 'Started']) {
      expect(events.filter((e) => e.reason === reason).map((e) => e.count ?? 1), reason).toEqual([1]);
    }
  });
});
