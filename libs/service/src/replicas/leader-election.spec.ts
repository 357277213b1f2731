import type { KV } from '@nats-io/kv';
import { describe, expect, it } from 'vitest';
import { openBucket } from '@splitlet/bus';
import { create, fromBinary, LeaderRecordSchema, toBinary } from '@splitlet/contracts';
import { FakeClock, useReplicaRuns, waitFor, type ReplicaRun, type TcpProxy } from '@splitlet/testing';
import type { Logger } from '@splitlet/telemetry';
import { LeaderElection, leaderSettingsErrors, type LeaderSettings } from './leader-election';

const quiet = { info: () => undefined, warn: () => undefined, debug: () => undefined, error: () => undefined } as unknown as Logger;
const TIMING = { leaseMs: 5_000, renewDeadlineMs: 3_000, retryMs: 1_000 };
const KEY = 'leader';

/** One replica: its own connection, its own election, and the (fake) times its terms began and ended. */
interface Replica extends ReplicaRun {
  id: string;
  election: LeaderElection;
  terms: { start: number; end?: number }[];
  /** A term's lead() throws this when set. */
  fail?: Error;
}

describe('service LeaderElection', () => {
  const clock = new FakeClock();
  const { nats, runs: replicas, connect, proxy: startProxy } = useReplicaRuns<Replica>(clock, TIMING.retryMs);
  let bucketNo = 0;
  let bucket = '';

  async function start(id: string, opts: { via?: TcpProxy } = {}): Promise<Replica> {
    if (replicas.length === 0) bucket = `ELECTION_${++bucketNo}`;
    const nc = await connect(opts.via);
    const kv: KV = await openBucket(nc, bucket);
    const election = new LeaderElection(kv, KEY, { id, ...TIMING } satisfies LeaderSettings, clock, quiet);
    const r: Replica = { id, nc, election, terms: [], stop: new AbortController(), done: Promise.resolve() };
    r.done = election.run(r.stop.signal, async (term) => {
      const t: { start: number; end?: number } = { start: clock.now() };
      r.terms.push(t);
      if (r.fail) throw r.fail;
      if (!term.aborted) await new Promise<void>((resolve) => term.addEventListener('abort', () => resolve(), { once: true }));
      t.end = clock.now();
    });
    replicas.push(r);
    return r;
  }



  const holderOf = async (kv: KV) => {
    const e = await kv.get(KEY);
    return e?.operation === 'PUT' ? fromBinary(LeaderRecordSchema, e.value).holder : undefined;
  };
  const leaders = () => replicas.filter((r) => r.election.leading).map((r) => r.id);

  it('leaderSettingsErrors - the deadline must fall inside the lease and the retry inside the deadline', () => {
    expect(leaderSettingsErrors(TIMING)).toEqual([]);
    expect(leaderSettingsErrors({ leaseMs: 3_000, renewDeadlineMs: 3_000, retryMs: 1_000 })).toEqual(['the renew deadline must be shorter than the lease']);
    expect(leaderSettingsErrors({ leaseMs: 5_000, renewDeadlineMs: 1_000, retryMs: 1_000 })).toEqual(['the retry period must be shorter than the renew deadline']);
  });

  it('one of two candidates leads; the other stands by, seeing who leads, while the leader renews', async () => {
    const a = await start('a');
    await waitFor('a leads', async () => (a.election.leading ? true : undefined), 5_000, 10);
    const b = await start('b');
    await clock.advanceUntil('b sees a', () => b.election.leader === 'a');
    // Many renewals later: still a, and b never led.
    await clock.advanceUntil('20 s', () => false, { stepMs: 500, maxMs: 20_000 }).catch(() => undefined);
    expect(leaders()).toEqual(['a']);
    expect(b.terms).toEqual([]);
    expect(a.terms).toHaveLength(1);
    expect(await holderOf(await openBucket(nats.nc, bucket))).toBe('a');
  });

  it('a leader that stops lets the key go: the standby leads at its next look, not a lease later', async () => {
    const a = await start('a');
    await waitFor('a leads', async () => (a.election.leading ? true : undefined), 5_000, 10);
    const b = await start('b');
    await clock.advanceUntil('b sees a', () => b.election.leader === 'a');
    a.stop.abort();
    await a.done;
    expect(a.terms[0]?.end).toBeDefined();
    const took = await clock.advanceUntil('b leads', () => b.election.leading);
    expect(took).toBeLessThanOrEqual(TIMING.retryMs);
    expect(b.terms[0]!.start).toBeGreaterThanOrEqual(a.terms[0]!.end!);
  });

  it('a leader that vanishes (kill -9): the standby takes over once the key has not moved for the lease, and never while the old term runs', async () => {
    const proxy = await startProxy();
    const a = await start('a', { via: proxy });
    await waitFor('a leads', async () => (a.election.leading ? true : undefined), 5_000, 10);
    const b = await start('b');
    await clock.advanceUntil('b sees a', () => b.election.leader === 'a');
    // a is cut off from NATS (as a killed or partitioned process is): it cannot renew.
    await proxy.down();
    const cut = clock.now();
    await clock.advanceUntil('a steps down', () => !a.election.leading);
    const aEnd = a.terms[0]!.end!;
    expect(aEnd - cut).toBeLessThanOrEqual(TIMING.renewDeadlineMs);
    await clock.advanceUntil('b leads', () => b.election.leading);
    const bStart = b.terms[0]!.start;
    // No overlap: a had stopped before b began, and b began within a lease and a look of the cut.
    expect(bStart).toBeGreaterThan(aEnd);
    expect(bStart - cut).toBeLessThanOrEqual(TIMING.leaseMs + 2 * TIMING.retryMs);
    expect(await holderOf(await openBucket(nats.nc, bucket))).toBe('b');

    // a comes back late: its stale revision is refused, it sees b and stands by.
    await proxy.up();
    await clock.advanceUntil('a sees b', () => a.election.leader === 'b');
    await clock.advanceUntil('10 s', () => false, { stepMs: 500, maxMs: 10_000 }).catch(() => undefined);
    expect(leaders()).toEqual(['b']);
    expect(a.terms).toHaveLength(1);
  });

  it('a term whose work fails lets the key go and reports the error', async () => {
    const a = await start('a');
    a.fail = new Error('boom');
    await expect(a.done).rejects.toThrow('boom');
    const b = await start('b');
    await clock.advanceUntil('b leads', () => b.election.leading, { stepMs: 250, maxMs: TIMING.retryMs });
  });

  it('a replica restarted with the same id is another process: it waits out its predecessor\'s lease', async () => {
    const a = await start('a');
    await waitFor('a leads', async () => (a.election.leading ? true : undefined), 5_000, 10);
    // The process dies without letting go (no abort), a new one with the id starts.
    await a.nc.close();
    await clock.advanceUntil('old a steps down', () => !a.election.leading);
    const again = await start('a');
    const took = await clock.advanceUntil('the new a leads', () => again.election.leading);
    expect(took).toBeGreaterThanOrEqual(TIMING.leaseMs);
  });

  it('two processes given one id by mistake never both lead', async () => {
    const [x, y] = [await start('same'), await start('same')];
    let both = 0;
    await clock.advanceUntil('20 s', () => {
      if (x.election.leading && y.election.leading) both++;
      return false;
    }, { stepMs: 250, maxMs: 20_000 }).catch(() => undefined);
    expect(both).toBe(0);
    expect(x.terms.length + y.terms.length).toBe(1);
  });

  it('a leader whose key another wrote over steps down at its next renewal', async () => {
    const a = await start('a');
    await waitFor('a leads', async () => (a.election.leading ? true : undefined), 5_000, 10);
    const kv = await openBucket(nats.nc, bucket);
    await kv.put(KEY, toBinary(LeaderRecordSchema, create(LeaderRecordSchema, { holder: 'intruder', incarnation: 'x' })));
    const took = await clock.advanceUntil('a steps down', () => !a.election.leading);
    expect(took).toBeLessThanOrEqual(2 * TIMING.retryMs);
    expect(a.election.leader).toBe('intruder');
  });

  it('told to stop while taking the key: the term ends and the run returns', async () => {
    const a = await start('a');
    // The abort lands while the first read or write of the key is in flight; no clock step follows, so the
    // take-over completes (no timeout of the fake clock cuts it short) and the term must end on its own.
    a.stop.abort();
    await waitFor('the run to return', async () => ((await Promise.race([a.done.then(() => true), new Promise((r) => setTimeout(() => r(undefined), 50))])) ? true : undefined), 5_000, 10);
    expect(a.terms).toHaveLength(1);
    expect(a.terms[0]!.end).toBeDefined();
    expect(a.election.leading).toBe(false);
    const b = await start('b');
    await clock.advanceUntil('b leads', () => b.election.leading, { stepMs: 250, maxMs: TIMING.retryMs });
  });
});
