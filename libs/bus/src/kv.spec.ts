import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { ProbeKind, ProbeResultSchema, ProbeResultValue } from '@splitlet/contracts';
import { createLogger } from '@splitlet/telemetry';
import { startNatsServer, waitFor, type NatsServer } from '@splitlet/testing';
import { kvEntries, kvGet, kvPut, openBucket, probeResultKey, probeResultsBucket, watchBucket } from './index';

const logger = createLogger('bus-test', { level: 'silent' });

describe('bus kv', () => {
  let server: NatsServer;
  let nc: NatsConnection;
  beforeAll(async () => {
    server = await startNatsServer();
    nc = await connect({ servers: server.url });
  });
  afterAll(async () => {
    await nc.close();
    await server.stop();
  });

  it('stores protobuf values per key and watches puts and deletes, skipping garbage', async () => {
    const kv = await openBucket(nc, probeResultsBucket('node.a'));
    const key = probeResultKey('uid-1', 'web', 'readiness');
    await kvPut(kv, key, ProbeResultSchema, { podUid: 'uid-1', containerName: 'web', kind: ProbeKind.READINESS, result: ProbeResultValue.SUCCESS });
    expect((await kvGet(kv, key, ProbeResultSchema))?.result).toBe(ProbeResultValue.SUCCESS);

    const seen: Array<[string, number | undefined]> = [];
    const ac = new AbortController();
    const done = watchBucket(kv, ProbeResultSchema, (k, v) => void seen.push([k, v?.result]), { logger, signal: ac.signal });
    await waitFor('the first value', async () => (seen.length === 1 ? true : undefined));
    await kv.put('garbage', new Uint8Array([0xff, 0xff, 0xff]));
    await kvPut(kv, key, ProbeResultSchema, { podUid: 'uid-1', containerName: 'web', kind: ProbeKind.READINESS, result: ProbeResultValue.FAILURE });
    await kv.delete(key);
    await waitFor('two changes', async () => (seen.length === 3 ? true : undefined));
    ac.abort();
    await done;
    expect(seen).toEqual([
      [key, ProbeResultValue.SUCCESS],
      [key, ProbeResultValue.FAILURE],
      [key, undefined],
    ]);
    expect([...(await kvEntries(kv, ProbeResultSchema)).keys()]).toEqual([]);
  });

  it("with undecodable 'absent', a value that does not decode is no value, as kvGet reads it; each change comes with its revision", async () => {
    const kv = await openBucket(nc, probeResultsBucket('node.b'));
    const key = probeResultKey('uid-1', 'web', 'liveness');
    const rev = await kvPut(kv, key, ProbeResultSchema, { podUid: 'uid-1', containerName: 'web', kind: ProbeKind.LIVENESS, result: ProbeResultValue.SUCCESS });
    const seen: Array<[string, number | undefined, number]> = [];
    const ac = new AbortController();
    const done = watchBucket(kv, ProbeResultSchema, (k, v, e) => void seen.push([k, v?.result, e.revision]), { logger, signal: ac.signal, undecodable: 'absent' });
    await waitFor('the first value', async () => (seen.length === 1 ? true : undefined));
    const garbage = await kv.put(key, new Uint8Array([0xff, 0xff, 0xff]));
    await waitFor('the garbage', async () => (seen.length === 2 ? true : undefined));
    ac.abort();
    await done;
    expect(seen).toEqual([
      [key, ProbeResultValue.SUCCESS, rev],
      [key, undefined, garbage],
    ]);
    expect(await kvGet(kv, key, ProbeResultSchema)).toBeUndefined();
  });

  it('a watch whose signal aborts while it is being set up ends (it went on for good)', async () => {
    const kv = await openBucket(nc, probeResultsBucket('node.c'));
    const ac = new AbortController();
    const done = watchBucket(kv, ProbeResultSchema, () => undefined, { logger, signal: ac.signal });
    ac.abort();
    await expect(Promise.race([done.then(() => 'ended'), new Promise((r) => setTimeout(() => r('still watching'), 2000))])).resolves.toBe('ended');
  });

  it('forgets a key not written again within the bucket ttl', async () => {
    const kv = await openBucket(nc, 'TTL_TEST', { ttlMs: 1000 });
    await kv.put('r1', new Uint8Array([1]));
    expect(await kv.get('r1')).not.toBeNull();
    await waitFor('the key to expire', async () => ((await kv.get('r1')) === null ? true : undefined), 5000);
  });
});
