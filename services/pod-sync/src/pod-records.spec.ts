import { describe, expect, it } from 'vitest';
import { openBucket, podRecordKey, POD_SYNC_SHARDS } from '@splitlet/bus';
import { shardOf } from '@splitlet/bus';
import { useNatsServer } from '@splitlet/testing';
import type { Logger } from '@splitlet/telemetry';
import { ALL_POD_SHARDS, PodRecordStore } from './pod-records';

const warnings: string[] = [];
const logger = { info: () => undefined, debug: () => undefined, warn: (_o: unknown, msg: string) => warnings.push(msg), error: () => undefined } as unknown as Logger;

describe('pod-sync PodRecordStore', () => {
  const nats = useNatsServer();
  let bucketNo = 0;
  const store = () => {
    const name = `PODSYNC_${++bucketNo}`;
    return { name, store: new PodRecordStore(() => openBucket(nats.nc, name), logger) };
  };

  it('a record kept is read back by the shard it falls in, and by no other; a dropped one is gone', async () => {
    const { store: s } = store();
    const uid = '6f1c1a52-2a8e-4c53-9a3e-1b1d2c3d4e5f';
    await s.save(uid, { version: 42n, generated: true, backoff: [{ name: 'app', delayMs: 20_000n, lastUpdate: 1_000n }], reasons: [{ name: 'app', reason: 'CrashLoopBackOff', message: 'back-off 20s' }], backoffDueAt: 21_000n });
    const shard = shardOf(uid, POD_SYNC_SHARDS);
    const mine = await s.load([shard]);
    expect(mine.get(uid)?.backoff[0]).toMatchObject({ name: 'app', delayMs: 20_000n, lastUpdate: 1_000n });
    expect(mine.get(uid)?.reasons[0]?.reason).toBe('CrashLoopBackOff');
    expect(mine.get(uid)?.version).toBe(42n);
    expect((await s.load(ALL_POD_SHARDS.filter((n) => n !== shard))).size).toBe(0);
    await s.forget(uid);
    expect((await s.load(ALL_POD_SHARDS)).size).toBe(0);
  });

  it('a later record of a pod is never overwritten by an earlier one (writes land in the order asked)', async () => {
    const { store: s } = store();
    const uid = 'a0000000-0000-4000-8000-000000000001';
    const writes = Array.from({ length: 20 }, (_, i) => s.save(uid, { version: BigInt(i + 1) }));
    await Promise.all(writes);
    expect((await s.load(ALL_POD_SHARDS)).get(uid)?.version).toBe(20n);
  });

  it('garbage under a record key, or a key that is no pod\'s, counts as no record; a UID no key can hold is not kept', async () => {
    const { name, store: s } = store();
    const kv = await openBucket(nats.nc, name);
    const uid = 'b0000000-0000-4000-8000-000000000002';
    await kv.put(podRecordKey(uid)!, new Uint8Array([0xff, 0xff, 0xff]));
    const other = 'c0000000-0000-4000-8000-000000000003';
    await kv.put(`record.${(shardOf(other, POD_SYNC_SHARDS) + 1) % POD_SYNC_SHARDS}.${other}`, new Uint8Array());
    expect((await s.load(ALL_POD_SHARDS)).size).toBe(0);
    await s.save('a.b*c', { version: 1n });
    expect(podRecordKey('a.b*c')).toBeUndefined();
    expect((await s.load(ALL_POD_SHARDS)).size).toBe(0);
  });

  it('a bucket that cannot be opened: the save says why and resolves, the next one tries again', async () => {
    let opens = 0;
    const s = new PodRecordStore(async () => {
      opens++;
      throw new Error('no JetStream');
    }, logger);
    warnings.length = 0;
    await s.save('d0000000-0000-4000-8000-000000000004', { version: 1n });
    await s.save('d0000000-0000-4000-8000-000000000004', { version: 2n });
    expect(opens).toBe(2);
    expect(warnings).toEqual(['the pod record could not be kept: its next holder starts its back-off afresh', 'the pod record could not be kept: its next holder starts its back-off afresh']);
  });
});
