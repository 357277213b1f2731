import { afterEach, describe, expect, it } from 'vitest';
import { kvPut, openBucket } from '@splitlet/bus';
import { ReplicaHeartbeatSchema } from '@splitlet/contracts';
import { FakeClock, useNatsServer, waitFor } from '@splitlet/testing';
import type { Logger } from '@splitlet/telemetry';
import { Membership, nanos } from './membership';

const SETTINGS = { heartbeatMs: 1_000, ttlMs: 3_000 };

describe('service Membership', () => {
  const nats = useNatsServer();
  const clock = new FakeClock();
  const running: { stop: AbortController; done: Promise<void> }[] = [];
  let bucketNo = 0;
  let errors: string[] = [];
  const logger = {
    info: () => undefined,
    warn: () => undefined,
    debug: () => undefined,
    error: (_o: unknown, msg: string) => errors.push(msg),
  } as unknown as Logger;

  afterEach(async () => {
    for (const r of running.splice(0)) {
      r.stop.abort();
      await clock.advance(SETTINGS.heartbeatMs);
      await r.done;
    }
    errors = [];
  });

  async function bucket() {
    return openBucket(nats.nc, `MEMBERS_${++bucketNo}`, { ttlMs: 60_000 });
  }

  /** A replica that joins and beats until the test ends (or stop). */
  async function member(kv: Awaited<ReturnType<typeof bucket>>, id: string) {
    const m = new Membership(kv, { id, ...SETTINGS }, clock, logger, () => undefined);
    await m.join();
    const r = { stop: new AbortController(), done: Promise.resolve() };
    r.done = m.run(r.stop.signal);
    running.push(r);
    return { m, stop: async () => {
      r.stop.abort();
      await r.done;
    } };
  }

  it('a replica that joins counts at once, one that leaves (deletes its heartbeat) at once, one gone silent once its last heartbeat is a TTL old', async () => {
    const kv = await bucket();
    const a = await member(kv, 'a');
    const b = await member(kv, 'b');
    // No fake time passes: the watch brings b's first heartbeat.
    await waitFor('a sees b', async () => (a.m.members.join() === 'a,b' ? true : undefined), 5_000, 10);
    await b.stop();
    await waitFor('a sees b leave', async () => (a.m.members.join() === 'a' ? true : undefined), 5_000, 10);

    // c beats once and falls silent (killed): it counts until its heartbeat is a TTL old.
    const c = new Membership(kv, { id: 'c', ...SETTINGS }, clock, logger, () => undefined);
    await c.join();
    await waitFor('a sees c', async () => (a.m.members.join() === 'a,c' ? true : undefined), 5_000, 10);
    await clock.advanceUntil('a sees c gone silent', () => a.m.members.join() === 'a', { stepMs: 250, maxMs: SETTINGS.ttlMs + 2 * SETTINGS.heartbeatMs });
  });

  it('a heartbeat dated in the future is not believed: it counts for a TTL from when it was seen, no longer', async () => {
    const kv = await bucket();
    const a = await member(kv, 'a');
    await kvPut(kv, 'ghost', ReplicaHeartbeatSchema, { id: 'ghost', startedAt: 0n, heartbeatAt: nanos(clock.now() + 365 * 86_400_000), incarnation: 'x' });
    await waitFor('a sees the ghost', async () => (a.m.members.includes('ghost') ? true : undefined), 5_000, 10);
    const took = await clock.advanceUntil('the ghost no longer counts', () => !a.m.members.includes('ghost'), { stepMs: 250, maxMs: 10_000 });
    expect(took).toBeGreaterThan(SETTINGS.ttlMs);
    expect(took).toBeLessThanOrEqual(SETTINGS.ttlMs + 2 * SETTINGS.heartbeatMs);
  });

  it('a heartbeat lands only on its own last one: another process writing under the same id stops this one\'s lastBeat (the lease its shards are held by) and is named in an error', async () => {
    const kv = await bucket();
    const a = await member(kv, 'a');
    expect(a.m.lastBeat).toBe(clock.now()); // its join's
    await clock.advance(SETTINGS.heartbeatMs);
    await waitFor('a beat lands', async () => (a.m.lastBeat === clock.now() ? true : undefined), 5_000, 10);
    const landed = a.m.lastBeat;
    // Another process takes the key under a's id.
    await kvPut(kv, 'a', ReplicaHeartbeatSchema, { id: 'a', startedAt: 1n, heartbeatAt: nanos(clock.now()), incarnation: 'another' });
    await clock.advance(SETTINGS.heartbeatMs);
    await waitFor('the clash is named', async () => (errors.length > 0 ? true : undefined), 5_000, 10);
    expect(a.m.lastBeat).toBe(landed);
    expect(errors[0]).toMatch(/another process heartbeats under this replica id/);
  });
});
