import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Svcm } from '@nats-io/services';
import { DeliverPolicy, jetstream, jetstreamManager } from '@nats-io/jetstream';
import { type NatsConnection } from '@nats-io/transport-node';
import {
  containerEventsSubject,
  createRpcClient,
  ensureStream,
  eventsStreamName,
  isPermissionDenied,
  LEADER_KEY,
  kvGet,
  kvPut,
  openBucket,
  podsViewBucket,
  probeResultKey,
  probeResultsBucket,
  proberReplicasBucket,
  registrarLeaderBucket,
  statusReporterLeasesBucket,
  statusReporterReplicasBucket,
  publishToStream,
  serveRpc,
  watchBucket,
} from '@splitlet/bus';
import { ContainerEventSchema, ContainerEventType, ImageService, PodProbeViewSchema, ProbeResultSchema, ProbeResultValue, RuntimeService } from '@splitlet/contracts';
import { createLogger } from '@splitlet/telemetry';
import { startAuthNatsServer, type AuthNatsServer } from '@splitlet/testing';
import type { BusServiceName } from './permissions';

// The bus used as the services use it (the bus lib's own calls: RPC, KV, streams),
// each with its own identity: what a row grants works end to end, JetStream API and
// replies included; what it does not grant is refused with a typed error.

const NODE = 'node-a';
const logger = createLogger('test', { level: 'silent' });

describe('bus identities at work', () => {
  let server: AuthNatsServer;
  const conns = new Map<string, NatsConnection>();
  const as = async (service: BusServiceName, node = NODE) => {
    const key = `${node}/${service}`;
    if (!conns.has(key)) conns.set(key, await server.connectAs(node, service));
    return conns.get(key)!;
  };

  beforeAll(async () => {
    server = await startAuthNatsServer();
    // runtime-executor's RPCs, served under its own identity.
    const nc = await as('runtime-executor');
    const svc = await new Svcm(nc).add({ name: 'runtime-executor', version: '0.0.0-test' });
    const notHere = async () => ({});
    serveRpc(
      svc,
      NODE,
      RuntimeService,
      new Proxy({ version: async () => ({ runtimeName: 'docker', runtimeVersion: '1' }), listContainers: async () => ({ containers: [] }) }, { get: (t, k) => (t as Record<string | symbol, unknown>)[k] ?? notHere }) as never,
      { logger },
    );
    serveRpc(svc, NODE, ImageService, new Proxy({}, { get: () => notHere }) as never, { logger });
    await nc.flush();
  });
  afterAll(async () => {
    await Promise.all([...conns.values()].map((c) => c.close()));
    await server?.stop();
  });

  it('bus identities - registrar reads the runtime version; pod-sync lists containers', async () => {
    const version = await createRpcClient(await as('registrar'), NODE, RuntimeService).version({ version: 'v1' });
    expect(version.runtimeName).toBe('docker');
    const listed = await createRpcClient(await as('pod-sync'), NODE, RuntimeService).listContainers({});
    expect(listed.containers).toEqual([]);
  });

  it('bus identities - the prober and the registrar may not create a container; another node may not call this one', async () => {
    for (const nc of [await as('prober'), await as('registrar'), await as('pod-sync', 'node-b')]) {
      const err = await createRpcClient(nc, NODE, RuntimeService)
        .createContainer({})
        .catch((e: unknown) => e);
      expect(isPermissionDenied(err)).toBe(true);
    }
  });

  it('bus identities - runtime-executor creates and fills the events stream; pod-sync reads it', async () => {
    const re = await as('runtime-executor');
    await ensureStream(re, eventsStreamName(NODE), [containerEventsSubject(NODE)], 600_000);
    const consumer = await jetstream(await as('pod-sync')).consumers.get(eventsStreamName(NODE), {
      filter_subjects: [containerEventsSubject(NODE)],
      deliver_policy: DeliverPolicy.All,
    });
    await publishToStream(jetstream(re), containerEventsSubject(NODE), ContainerEventSchema, { type: ContainerEventType.STOPPED, containerId: 'c1' }, { msgId: 'c1-stopped' });
    const m = await consumer.next({ expires: 5000 });
    expect(m?.subject).toBe(containerEventsSubject(NODE));
    // The prober has no business with container events.
    await expect(jetstream(await as('prober')).consumers.get(eventsStreamName(NODE), { deliver_policy: DeliverPolicy.All })).rejects.toThrow(/Permissions Violation/);
  });

  it('bus identities - pod-sync writes the pods view, the prober reads and watches it but cannot write it', async () => {
    const mine = await openBucket(await as('pod-sync'), podsViewBucket(NODE));
    await kvPut(mine, 'uid-1', PodProbeViewSchema, { podUid: 'uid-1', name: 'p' });
    const theirs = await openBucket(await as('prober'), podsViewBucket(NODE));
    expect((await kvGet(theirs, 'uid-1', PodProbeViewSchema))?.name).toBe('p');
    const abort = new AbortController();
    const seen: string[] = [];
    const watching = watchBucket(theirs, PodProbeViewSchema, (k) => void seen.push(k), { logger, signal: abort.signal });
    await expect(kvPut(theirs, 'uid-forged', PodProbeViewSchema, { podUid: 'uid-forged', name: 'x' })).rejects.toThrow(/Permissions Violation/);
    await expect(theirs.delete('uid-1')).rejects.toThrow(/Permissions Violation/);
    await kvPut(mine, 'uid-2', PodProbeViewSchema, { podUid: 'uid-2', name: 'q' });
    await expect.poll(() => seen).toEqual(['uid-1', 'uid-2']);
    abort.abort();
    await watching;
    expect(await kvGet(mine, 'uid-forged', PodProbeViewSchema)).toBeUndefined();
  });

  it('bus identities - the prober writes results and heartbeats, pod-sync reads results but cannot forge one', async () => {
    const prober = await as('prober');
    const results = await openBucket(prober, probeResultsBucket(NODE));
    const key = probeResultKey('uid-1', 'app', 'liveness');
    await kvPut(results, key, ProbeResultSchema, { result: ProbeResultValue.SUCCESS });
    await kvPut(await openBucket(prober, proberReplicasBucket(NODE), { ttlMs: 10_000 }), 'replica-1', ProbeResultSchema, {});
    const read = await openBucket(await as('pod-sync'), probeResultsBucket(NODE));
    expect((await kvGet(read, key, ProbeResultSchema))?.result).toBe(ProbeResultValue.SUCCESS);
    await expect(kvPut(read, key, ProbeResultSchema, { result: ProbeResultValue.FAILURE })).rejects.toThrow(/Permissions Violation/);
    // No one but the prober touches its heartbeats (20 fake replicas in the issue).
    await expect(openBucket(await as('pod-sync'), proberReplicasBucket(NODE))).rejects.toThrow(/Permissions Violation/);
  });

  it.each([
    { owner: 'registrar', bucket: registrarLeaderBucket },
    { owner: 'status-reporter', bucket: statusReporterLeasesBucket },
    { owner: 'status-reporter', bucket: statusReporterReplicasBucket },
  ] as const)("bus identities - $owner's replicas elect or share through $bucket.name; no other service, nor another node's $owner, can touch it", async ({ owner, bucket }) => {
    const election = await openBucket(await as(owner), bucket(NODE));
    await election.create(LEADER_KEY, new Uint8Array([1]));
    for (const service of ['registrar', 'pod-sync', 'prober', 'status-reporter', 'node-api', 'runtime-executor'] as const) {
      if (service !== owner) await expect(openBucket(await as(service), bucket(NODE))).rejects.toThrow(/Permissions Violation/);
    }
    await expect(openBucket(await as(owner, 'node-b'), bucket(NODE))).rejects.toThrow(/Permissions Violation/);
  });

  it.each(['pod-sync', 'prober', 'status-reporter', 'node-api'] as const)("bus identities - the registrar hears its own node's %s; another node's, posing as this node's, cannot answer", async (service) => {
    const [mineNc, impostorNc] = [await as(service), await as(service, 'node-b')];
    const mine = await new Svcm(mineNc).add({ name: service, version: '0.0.0-test', metadata: { node: NODE } });
    const impostor = await new Svcm(impostorNc).add({ name: service, version: '0.0.0-test', metadata: { node: NODE } });
    // Both services' subscriptions are at the server before the ping (add() does not wait for that).
    await Promise.all([mineNc.flush(), impostorNc.flush()]);
    try {
      const answers: string[] = [];
      for await (const p of await new Svcm(await as('registrar')).client({ strategy: 'timer', maxWait: 1000 }).ping(service)) answers.push(p.id);
      expect(answers).toEqual([mine.info().id]);
    } finally {
      await mine.stop();
      await impostor.stop();
    }
  });

  it("bus identities - another node's services cannot open this node's buckets or streams", async () => {
    const other = await as('pod-sync', 'node-b');
    await expect(openBucket(other, podsViewBucket(NODE))).rejects.toThrow(/Permissions Violation/);
    await expect(openBucket(await as('prober', 'node-b'), probeResultsBucket(NODE))).rejects.toThrow(/Permissions Violation/);
    await expect((await jetstreamManager(other)).streams.info(eventsStreamName(NODE))).rejects.toThrow(/Permissions Violation/);
  });
});
