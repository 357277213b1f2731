import type { KV } from '@nats-io/kv';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { kvEntries, kvPut, openBucket, podsViewBucket, probeResultKey, probeResultsBucket, proberReplicasBucket, watchBucket } from '@splitlet/bus';
import { PodProbeViewSchema, ProbeResultSchema, ProbeResultValue, type PodProbeView } from '@splitlet/contracts';
import { rendezvousOwner, systemClock } from '@splitlet/service';
import { startNatsServer, waitFor, type NatsServer } from '@splitlet/testing';
import { ProberMetrics } from './metrics';
import { FakeProber, silentLogger } from './__fixtures__/fakes';
import { container, podView, probe } from './__fixtures__/views';
import { ProbeManager } from './manager';
import { KvProbeResults } from './results';

const HEARTBEAT_MS = 100;
const TTL_MS = 500;

interface Replica {
  id: string;
  nc: NatsConnection;
  manager: ProbeManager;
  prober: FakeProber;
  abort: AbortController;
  done: Promise<void>;
}

describe('prober manager', () => {
  let server: NatsServer;
  let nc: NatsConnection;
  let node = 0;
  let buckets: { pods: KV; results: KV; replicas: KV; name: string };
  const replicas: Replica[] = [];

  beforeAll(async () => {
    server = await startNatsServer();
    nc = await connect({ servers: server.url });
  });
  afterAll(async () => {
    await nc?.close();
    await server?.stop();
  });
  afterEach(async () => {
    await Promise.all(replicas.splice(0).map((r) => stopReplica(r)));
  });

  /** Fresh buckets per test: a node of its own. */
  async function freshNode() {
    const name = `node-${++node}`;
    buckets = {
      name,
      pods: await openBucket(nc, podsViewBucket(name)),
      results: await openBucket(nc, probeResultsBucket(name)),
      replicas: await openBucket(nc, proberReplicasBucket(name), { ttlMs: TTL_MS }),
    };
    return buckets;
  }

  async function startReplica(id: string, random = 0, opts: { deafWatch?: boolean; resyncMs?: number } = {}): Promise<Replica> {
    const rnc = await connect({ servers: server.url });
    const open = async () => ({
      pods: await openBucket(rnc, podsViewBucket(buckets.name)),
      results: await openBucket(rnc, probeResultsBucket(buckets.name)),
      replicas: await openBucket(rnc, proberReplicasBucket(buckets.name), { ttlMs: TTL_MS }),
    });
    const b = await open();
    const abort = new AbortController();
    const results = new KvProbeResults(b.results, id, systemClock, silentLogger);
    const { watching } = await results.start(abort.signal);
    const prober = new FakeProber(systemClock);
    const manager = new ProbeManager({
      podsKv: opts.deafWatch ? deafWatch(b.pods) : b.pods,
      resyncMs: opts.resyncMs ?? 30_000,
      replicasKv: b.replicas,
      results,
      replica: { id, heartbeatMs: HEARTBEAT_MS, ttlMs: TTL_MS },
      prober,
      clock: systemClock,
      logger: silentLogger,
      random: () => random,
      metrics: new ProberMetrics(),
    });
    const done = Promise.all([manager.run(abort.signal), watching]).then(() => undefined);
    const r = { id, nc: rnc, manager, prober, abort, done };
    replicas.push(r);
    return r;
  }

  async function stopReplica(r: Replica, crash = false) {
    const i = replicas.indexOf(r);
    if (i >= 0) replicas.splice(i, 1);
    // A crash: the connection goes first, so the replica cannot say goodbye.
    if (crash) await r.nc.close();
    r.abort.abort();
    await r.done;
    if (!crash) await r.nc.close();
  }

  const view = (uid: string, init: Partial<Omit<PodProbeView, '$typeName' | 'containers'>> = {}, containerId = 'c1') =>
    podView([container({ containerId, readiness: probe({ periodSeconds: 1 }), liveness: probe({ periodSeconds: 1 }) })], { podUid: uid, name: uid, version: 1n, ...init });

  async function putPods(n: number): Promise<string[]> {
    const uids = Array.from({ length: n }, (_, i) => `pod-${String(i).padStart(3, '0')}`);
    for (const uid of uids) await kvPut(buckets.pods, uid, PodProbeViewSchema, view(uid));
    return uids;
  }

  /** Every pod owned by exactly one of the replicas, as rendezvous hashing over their ids says. */
  async function partitioned(uids: string[], rs: Replica[]) {
    return waitFor(
      'every pod owned by exactly one replica',
      async () => {
        const owners = new Map<string, string[]>();
        for (const r of rs) for (const uid of r.manager.ownedPods()) owners.set(uid, [...(owners.get(uid) ?? []), r.id]);
        const ids = rs.map((r) => r.id);
        return uids.every((u) => owners.get(u)?.length === 1 && owners.get(u)?.[0] === rendezvousOwner(u, ids)) ? owners : undefined;
      },
      5_000,
      50,
    );
  }

  /** Records every put/delete of the results bucket from now on. */
  async function recordResults() {
    const seen: { key: string; result?: ProbeResultValue; prober?: string }[] = [];
    const abort = new AbortController();
    let initial = (await kvEntries(buckets.results, ProbeResultSchema)).size;
    void watchBucket(
      buckets.results,
      ProbeResultSchema,
      (key, v) => {
        if (initial-- > 0) return; // the watch first replays what is there
        seen.push({ key, result: v?.result, prober: v?.prober });
      },
      { logger: silentLogger, signal: abort.signal },
    );
    return { seen, stop: () => abort.abort() };
  }

  const readinessOk = async (uids: string[]) =>
    waitFor('readiness success for every pod', async () => {
      const all = await kvEntries(buckets.results, ProbeResultSchema);
      return uids.every((u) => all.get(probeResultKey(u, 'app', 'readiness'))?.result === ProbeResultValue.SUCCESS) ? all : undefined;
    }, 5_000, 50);

  it('manager - three replicas split the pods by rendezvous hashing, each probing only its own', async () => {
    await freshNode();
    const uids = await putPods(30);
    const rs = [await startReplica('r-a'), await startReplica('r-b'), await startReplica('r-c')];
    const owners = await partitioned(uids, rs);
    await readinessOk(uids);
    for (const r of rs) expect(r.manager.ownedPods().length).toBeGreaterThan(0);
    // A probe of a pod ran only on its owner (after the partition settled).
    const since = Date.now();
    await new Promise((r) => setTimeout(r, 1_200));
    for (const r of rs) {
      const pods = new Set(r.prober.calls.filter((c) => c.at >= since).map((c) => c.pod));
      for (const p of pods) expect(owners.get(p)).toEqual([r.id]);
    }
  });

  it('manager - a replica that dies (no goodbye) has its pods taken over within the TTL plus a period, without a false failure or a repeat', async () => {
    await freshNode();
    const uids = await putPods(20);
    const rs = [await startReplica('r-a'), await startReplica('r-b')];
    await partitioned(uids, rs);
    await readinessOk(uids);
    const rec = await recordResults();
    const dying = rs[0]!;
    const orphans = dying.manager.ownedPods();
    expect(orphans.length).toBeGreaterThan(0);
    const t0 = Date.now();
    await stopReplica(dying, true);
    await partitioned(uids, [rs[1]!]);
    const movedAfter = Date.now() - t0;
    expect(movedAfter).toBeLessThan(TTL_MS + 1_000 + 500);
    // The survivor probes the orphans...
    const since = Date.now();
    await waitFor('the orphans probed by the survivor', async () => (orphans.every((p) => rs[1]!.prober.calls.some((c) => c.pod === p && c.at >= since)) ? true : undefined), 5_000, 50);
    // ...and publishes nothing: the bucket already holds these results for these containers.
    rec.stop();
    expect(rec.seen).toEqual([]);
  });

  it('manager - a graceful stop hands the pods over at the next heartbeat', async () => {
    await freshNode();
    const uids = await putPods(10);
    const rs = [await startReplica('r-a'), await startReplica('r-b')];
    await partitioned(uids, rs);
    const t0 = Date.now();
    await stopReplica(rs[0]!);
    await partitioned(uids, [rs[1]!]);
    expect(Date.now() - t0).toBeLessThan(HEARTBEAT_MS * 5);
  });

  it('manager - a restarted replica resumes from the bucket: no flicker, no repeat, even with failing results held', async () => {
    await freshNode();
    const uids = await putPods(5);
    const first = await startReplica('r-a');
    first.prober.script('liveness', { result: 'failure', output: 'down' });
    await readinessOk(uids);
    await waitFor('liveness failures', async () => {
      const all = await kvEntries(buckets.results, ProbeResultSchema);
      return uids.every((u) => all.get(probeResultKey(u, 'app', 'liveness'))?.result === ProbeResultValue.FAILURE) ? true : undefined;
    }, 8_000, 100);
    await stopReplica(first);
    const rec = await recordResults();
    const again = await startReplica('r-a');
    again.prober.script('liveness', { result: 'failure', output: 'down' });
    await new Promise((r) => setTimeout(r, 2_500));
    rec.stop();
    expect(rec.seen).toEqual([]);
    // Liveness failed for these containers: on hold until new ones, so not probed again.
    expect(again.prober.calls.filter((c) => c.kind === 'liveness')).toEqual([]);
    expect(again.prober.calls.filter((c) => c.kind === 'readiness').length).toBeGreaterThan(0);
  });

  it('manager - a new container id is probed at once; a pod that is gone has its results deleted, also when it went while no owner ran', async () => {
    await freshNode();
    const [a, b] = await putPods(2);
    // A result of a pod that no longer exists.
    await kvPut(buckets.results, probeResultKey('gone-pod', 'app', 'readiness'), ProbeResultSchema, { podUid: 'gone-pod', containerName: 'app', containerId: 'x', result: ProbeResultValue.SUCCESS });
    const r = await startReplica('r-a');
    await readinessOk([a!, b!]);
    await waitFor('the stale result deleted', async () => ((await kvEntries(buckets.results, ProbeResultSchema)).has('gone-pod.app.readiness') ? undefined : true), 5_000, 50);

    const before = Date.now();
    await kvPut(buckets.pods, a!, PodProbeViewSchema, view(a!, { version: 2n }, 'c2'));
    const first = await waitFor('c2 probed', async () => r.prober.calls.find((c) => c.containerId === 'c2'), 5_000, 10);
    expect(first.at - before).toBeLessThan(300);

    await buckets.pods.delete(b!);
    await waitFor("b's results deleted", async () => ([...(await kvEntries(buckets.results, ProbeResultSchema)).keys()].some((k) => k.startsWith(`${b}.`)) ? undefined : true), 5_000, 50);
    expect(r.manager.ownedPods()).toEqual([a]);
  });

  it('manager - pods found at start wait a random part of their period (the restart jitter); a pod added later is probed at once', async () => {
    await freshNode();
    const [early] = await putPods(1);
    const start = Date.now();
    const r = await startReplica('r-a', 0.9);
    const first = await waitFor('the first probe of the early pod', async () => r.prober.calls.find((c) => c.pod === early), 5_000, 10);
    expect(first.at - start).toBeGreaterThanOrEqual(900);
    await new Promise((res) => setTimeout(res, 1_100)); // past one period since the start
    const added = Date.now();
    await kvPut(buckets.pods, 'late', PodProbeViewSchema, view('late'));
    const late = await waitFor('the first probe of the late pod', async () => r.prober.calls.find((c) => c.pod === 'late'), 5_000, 10);
    expect(late.at - added).toBeLessThan(300);
  });

  it('manager - with a watch that misses everything, the periodic resync still starts and stops pods', async () => {
    await freshNode();
    const [a, b] = await putPods(2);
    const r = await startReplica('r-a', 0, { deafWatch: true, resyncMs: 300 });
    await readinessOk([a!, b!]);
    await kvPut(buckets.pods, 'late', PodProbeViewSchema, view('late'));
    await buckets.pods.delete(b!);
    await waitFor('the resync to follow the bucket', async () => (r.manager.ownedPods().sort().join() === [a!, 'late'].sort().join() ? true : undefined), 3_000, 20);
    await readinessOk(['late']);
  });
});

/** The bucket, but its watch delivers nothing (a watch that lost events). */
function deafWatch(kv: KV): KV {
  return new Proxy(kv, {
    get(target, prop) {
      if (prop === 'watch') {
        return async () => {
          let stop: () => void = () => undefined;
          const stopped = new Promise<void>((r) => (stop = r));
          return {
            stop,
            async *[Symbol.asyncIterator]() {
              await stopped;
            },
          };
        };
      }
      const v: unknown = Reflect.get(target, prop, target);
      return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
    },
  });
}
