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

  it('forgets a key not written again within the bucket ttl', async () => {
    const kv = await openBucket(nc, 'TTL_TEST', { ttlMs: 1000 });
    await kv.put('r1', new Uint8Array([1]));
    expect(await kv.get('r1')).not.toBeNull();
    await waitFor('the key to expire', async () => ((await kv.get('r1')) === null ? true : undefined), 5000);
  });
});
