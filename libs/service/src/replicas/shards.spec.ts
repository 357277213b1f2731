import { beforeEach, describe, expect, it } from 'vitest';
import { openBucket, shardOf } from '@splitlet/bus';
import { FakeClock, useReplicaRuns, type ReplicaRun, type TcpProxy } from '@splitlet/testing';
import type { Logger } from '@splitlet/telemetry';
import { rendezvousOwner } from './rendezvous';
import { shardMembersTtlMs, ShardOwnership, shardKey, shardSettingsErrors, type ShardSettings } from './shards';

const quiet = { info: () => undefined, warn: () => undefined, debug: () => undefined, error: () => undefined } as unknown as Logger;
const SHARDS = 8;
const TIMING = { shards: SHARDS, heartbeatMs: 1_000, ttlMs: 3_000, leaseMs: 5_000, renewDeadlineMs: 3_000, retryMs: 1_000 } satisfies Omit<ShardSettings, 'id'>;

/** One holding of a shard by a replica, in fake time. */
interface Term {
  replica: string;
  shard: number;
  start: number;
  end?: number;
}

interface Replica extends ReplicaRun {
  id: string;
  shards: ShardOwnership;
  /** hold() throws this for the shard, once, when set. */
  failOnce?: number;
}

describe('service ShardOwnership', () => {
  const clock = new FakeClock();
  const { runs: replicas, connect, proxy: startProxy } = useReplicaRuns<Replica>(clock, TIMING.retryMs);
  let terms: Term[] = [];
  let bucketNo = 0;
  let names = { members: '', leases: '' };

  // Before each test, not after: the replicas' teardown (useReplicaRuns) stops them one
  // at a time, and the ones still running take over the stopped ones' shards.
  beforeEach(() => {
    terms = [];
  });

  async function start(id: string, opts: { via?: TcpProxy } = {}): Promise<Replica> {
    if (replicas.length === 0) {
      bucketNo++;
      names = { members: `SHARD_MEMBERS_${bucketNo}`, leases: `SHARD_LEASES_${bucketNo}` };
    }
    const nc = await connect(opts.via);
    const [membersKv, leasesKv] = [await openBucket(nc, names.members, { ttlMs: shardMembersTtlMs(TIMING) }), await openBucket(nc, names.leases)];
    const r = { id, nc, stop: new AbortController(), done: Promise.resolve() } as Replica;
    r.shards = new ShardOwnership(membersKv, leasesKv, { id, ...TIMING }, clock, quiet, async (shard, term) => {
      const t: Term = { replica: id, shard, start: clock.now() };
      terms.push(t);
      if (r.failOnce === shard) {
        r.failOnce = undefined;
        t.end = clock.now();
        throw new Error('boom');
      }
      if (!term.aborted) await new Promise<void>((resolve) => term.addEventListener('abort', () => resolve(), { once: true }));
      t.end = clock.now();
    });
    r.done = r.shards.run(r.stop.signal);
    replicas.push(r);
    return r;
  }



  /** Every shard held by exactly one of these replicas: the one rendezvous hashing gives it among them. */
  const settledAmong = (live: Replica[]) => () =>
    Array.from({ length: SHARDS }, (_, s) => s).every((s) => {
      const holders = live.filter((r) => r.shards.holds(s)).map((r) => r.id);
      return holders.length === 1 && holders[0] === rendezvousOwner(shardKey(s), live.map((r) => r.id));
    });

  /** No shard was ever held by two replicas at once (each term of a shard began after the one before it ended). */
  function expectNoOverlap(): void {
    for (let s = 0; s < SHARDS; s++) {
      const ts = terms.filter((t) => t.shard === s).sort((a, b) => a.start - b.start);
      for (let i = 1; i < ts.length; i++) {
        const [prev, next] = [ts[i - 1]!, ts[i]!];
        expect(prev.end, `shard ${s}: ${prev.replica}'s term still running when ${next.replica}'s began`).toBeDefined();
        expect(next.start, `shard ${s}: ${next.replica} began before ${prev.replica} ended`).toBeGreaterThanOrEqual(prev.end!);
      }
    }
  }

  it('shardOf - the same shard for a key everywhere, and the keys spread over all shards', () => {
    expect(shardOf('3f2a-uid', 32)).toBe(shardOf('3f2a-uid', 32));
    const counts = new Array<number>(8).fill(0);
    for (let i = 0; i < 800; i++) counts[shardOf(`pod-${i}`, 8)]!++;
    for (const c of counts) expect(c).toBeGreaterThan(60);
  });

  it('shardSettingsErrors - a shard count, a heartbeat inside the TTL, and the lease rules', () => {
    expect(shardSettingsErrors(TIMING)).toEqual([]);
    expect(shardSettingsErrors({ ...TIMING, shards: 0 })).toEqual(['the shard count must be a whole number of at least 1']);
    expect(shardSettingsErrors({ ...TIMING, heartbeatMs: 3_000, ttlMs: 4_000 })).toEqual(['the heartbeat must be shorter than the renew deadline']);
    expect(shardSettingsErrors({ ...TIMING, ttlMs: 1_000 })).toEqual(['the heartbeat must be shorter than the replica TTL']);
    expect(shardSettingsErrors({ ...TIMING, renewDeadlineMs: 5_000 })).toEqual(['the renew deadline must be shorter than the lease']);
  });

  it('a lone replica holds every shard; a second joins and takes its share, each shard only after the first let it go', async () => {
    const a = await start('a');
    await clock.advanceUntil('a holds all', settledAmong([a]));
    expect(a.shards.heldShards).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
    const b = await start('b');
    const took = await clock.advanceUntil('a and b share', settledAmong([a, b]));
    // a sees b at its next beat and lets b's shards go; b takes each at its next look.
    expect(took).toBeLessThanOrEqual(TIMING.heartbeatMs + 2 * TIMING.retryMs);
    expect(b.shards.heldShards.length).toBeGreaterThan(0);
    expect(a.shards.heldShards.length).toBeGreaterThan(0);
    expectNoOverlap();
    // And it stays so: nothing moves while both live.
    const before = terms.length;
    await clock.advanceUntil('20 s', () => false, { stepMs: 500, maxMs: 20_000 }).catch(() => undefined);
    expect(terms.length).toBe(before);
    expect(settledAmong([a, b])()).toBe(true);
  });

  it('holding writes a shard key only to take it or let it go: idle replicas write their heartbeats and nothing else', async () => {
    const [a, b] = [await start('a'), await start('b')];
    await clock.advanceUntil('a and b share', settledAmong([a, b]));
    const leases = await openBucket(a.nc, names.leases);
    const revisions = async () => (await leases.status()).streamInfo.state.last_seq;
    const before = await revisions();
    await clock.advanceUntil('30 s', () => false, { stepMs: 500, maxMs: 30_000 }).catch(() => undefined);
    expect(await revisions()).toBe(before);
    expect(settledAmong([a, b])()).toBe(true);
  });

  it('a replica restarted under the same id (its old process killed) takes its shards once the old process\'s heartbeat stood still for a lease', async () => {
    const proxy = await startProxy();
    const old = await start('a', { via: proxy });
    await clock.advanceUntil('a holds all', settledAmong([old]));
    await proxy.down();
    const cut = clock.now();
    old.stop.abort(); // it stops; cut off, it cannot let its keys go
    const fresh = await start('a');
    await clock.advanceUntil('the new process holds all', settledAmong([fresh]), { stepMs: 250, maxMs: 20_000 });
    // The old one stopped at its renew deadline; the new one took over a lease after the old one's last heartbeat.
    expect(clock.now() - cut).toBeGreaterThanOrEqual(TIMING.leaseMs - TIMING.heartbeatMs);
    expectNoOverlap();
    await proxy.up();
  });

  it('a replica that stops lets its shards go: the others hold them at their next look, not a lease later', async () => {
    const [a, b, c] = [await start('a'), await start('b'), await start('c')];
    await clock.advanceUntil('three share', settledAmong([a, b, c]));
    const bHeld = b.shards.heldShards;
    expect(bHeld.length).toBeGreaterThan(0);
    b.stop.abort();
    await b.done;
    expect(terms.filter((t) => t.replica === 'b').every((t) => t.end !== undefined)).toBe(true);
    const took = await clock.advanceUntil('a and c share', settledAmong([a, c]));
    expect(took).toBeLessThanOrEqual(TIMING.heartbeatMs + 2 * TIMING.retryMs);
    expectNoOverlap();
  });

  it('a replica cut off from NATS (killed or partitioned) stops its work before anyone takes its shards over; back late, it gets its share again, handed over', async () => {
    const proxy = await startProxy();
    const a = await start('a', { via: proxy });
    const [b, c] = [await start('b'), await start('c')];
    await clock.advanceUntil('three share', settledAmong([a, b, c]));
    const aHeld = a.shards.heldShards;
    expect(aHeld.length).toBeGreaterThan(0);
    await clock.advanceUntil('b sees every shard held by a live replica', () => b.shards.settled());

    await proxy.down();
    const cut = clock.now();
    // Once a's heartbeat is stale, b knows a's shards have no live holder until it or c takes them.
    await clock.advanceUntil('b sees a gone with its shards', () => !b.shards.settled());
    expect(clock.now() - cut).toBeLessThanOrEqual(TIMING.ttlMs + TIMING.heartbeatMs);
    await clock.advanceUntil('a lets go of its work', () => a.shards.heldShards.length === 0);
    // It stopped within the renew deadline of its last renewal, by its own clock.
    for (const t of terms.filter((t) => t.replica === 'a')) expect(t.end! - cut).toBeLessThanOrEqual(TIMING.renewDeadlineMs);
    await clock.advanceUntil('b and c hold a\'s shards', settledAmong([b, c]));
    await clock.advanceUntil('b sees every shard held again', () => b.shards.settled());
    // Once a's keys have not moved for a lease since a's last renewal (b and c watched
    // them all along), and a's heartbeat is stale: not a TTL and a lease after the cut.
    expect(clock.now() - cut).toBeLessThanOrEqual(Math.max(TIMING.ttlMs, TIMING.leaseMs) + 2 * TIMING.retryMs);
    expectNoOverlap();

    // a comes back: its stale keys' revisions are refused; it is a member again, and
    // the shards hashing gives it are let go by b and c before it holds them.
    await proxy.up();
    // Real time between the steps here: a's first beats after the cut wait for the NATS
    // client's own (real-time) request timeouts before a beat lands again.
    await clock.advanceUntil('three share again', settledAmong([a, b, c]), { stepMs: 250, maxMs: 60_000, realMs: 100 });
    expect(a.shards.heldShards).toEqual(aHeld);
    expectNoOverlap();
  });

  it('a hold that fails lets its shard go, and the replica stands for it again', async () => {
    const a = await start('a');
    a.failOnce = 3;
    await clock.advanceUntil('a holds all', settledAmong([a]));
    const shard3 = terms.filter((t) => t.shard === 3);
    expect(shard3).toHaveLength(2);
    expect(shard3[0]!.end).toBeDefined();
    expectNoOverlap();
  });

  it('a replica stopped while standing for shards ends every hold before its run returns', async () => {
    const a = await start('a');
    await clock.advanceUntil('a holds all', settledAmong([a]));
    a.stop.abort();
    await a.done;
    expect(a.shards.heldShards).toEqual([]);
    expect(terms.every((t) => t.end !== undefined)).toBe(true);
    // The keys were let go: a new replica holds every shard at its first look.
    const b = await start('b');
    await clock.advanceUntil('b holds all', settledAmong([b]), { stepMs: 250, maxMs: 2 * TIMING.retryMs });
  });
});
