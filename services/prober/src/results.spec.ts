import type { KV } from '@nats-io/kv';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { kvGet, openBucket, probeResultKey, probeResultsBucket } from '@splitlet/bus';
import { ProbeKind, ProbeResultSchema, ProbeResultValue } from '@splitlet/contracts';
import { FakeClock, startNatsServer, waitFor, type NatsServer } from '@splitlet/testing';
import { silentLogger } from './__fixtures__/fakes';
import { KvProbeResults } from './results';

describe('prober results', () => {
  let server: NatsServer;
  let nc: NatsConnection;
  let kv: KV;
  /** How many messages the bucket's stream has taken (puts and deletes; a watch may skip superseded ones). */
  const writes = async () => (await kv.status()).streamInfo.state.last_seq;
  beforeAll(async () => {
    server = await startNatsServer();
    nc = await connect({ servers: server.url });
    kv = await openBucket(nc, probeResultsBucket('node-r'));
  });
  afterAll(async () => {
    await nc?.close();
    await server?.stop();
  });

  it('results - puts only what differs from the bucket for that container id; unknown is never put; a pod is deleted whole', async () => {
    const abort = new AbortController();
    const clock = new FakeClock();
    const results = new KvProbeResults(kv, 'r-1', clock, silentLogger);
    await results.start(abort.signal);
    const before = await writes();
    results.set('u1', 'app', 'readiness', 'c1', 'failure', '');
    results.set('u1', 'app', 'readiness', 'c1', 'failure', 'again');
    results.set('u1', 'app', 'readiness', 'c1', 'success', '');
    results.set('u1', 'app', 'readiness', 'c2', 'success', '');
    results.set('u1', 'app', 'startup', 'c2', 'unknown', '');
    results.set('u1', 'app', 'liveness', 'c2', 'failure', 'HTTP probe failed with statuscode: 500');
    await waitFor('4 puts', async () => ((await writes()) - before >= 4 ? true : undefined), 5_000, 20);
    expect(await kvGet(kv, probeResultKey('u1', 'app', 'readiness'), ProbeResultSchema)).toMatchObject({ containerId: 'c2', result: ProbeResultValue.SUCCESS });
    expect(await kvGet(kv, probeResultKey('u1', 'app', 'startup'), ProbeResultSchema)).toBeUndefined();
    expect(await kvGet(kv, probeResultKey('u1', 'app', 'liveness'), ProbeResultSchema)).toMatchObject({
      podUid: 'u1',
      containerName: 'app',
      kind: ProbeKind.LIVENESS,
      containerId: 'c2',
      result: ProbeResultValue.FAILURE,
      message: 'HTTP probe failed with statuscode: 500',
      prober: 'r-1',
      time: BigInt(clock.now()) * 1_000_000n,
    });

    // Another replica (started later) sees the same bucket and repeats nothing.
    const other = new KvProbeResults(kv, 'r-2', clock, silentLogger);
    await other.start(abort.signal);
    other.set('u1', 'app', 'readiness', 'c2', 'success', '');
    other.set('u1', 'app', 'liveness', 'c2', 'failure', 'other words');
    expect(other.podUids()).toEqual(new Set(['u1']));
    await other.deletePod('u1');
    expect(await writes()).toBe(before + 4 + 2);
    // The first replica's mirror follows the other's deletes.
    await waitFor('the first mirror to follow', async () => (results.get('u1', 'app', 'readiness') === undefined ? true : undefined), 5_000, 20);
    abort.abort();
  });
});
