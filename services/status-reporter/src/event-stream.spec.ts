import 'reflect-metadata';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { V1Pod } from '@kubernetes/client-node';
import { create, toBinary } from '@bufbuild/protobuf';
import { AckPolicy, jetstreamManager } from '@nats-io/jetstream';
import { ensureKubeEventsStream, ensureStatusStream, kubeEventsStreamName, recordPodEvent, shardEventsSubject, statusShardOf } from '@splitlet/bus';
import { KubeEventSchema } from '@splitlet/contracts';
import { startServiceHarness, type ServiceHarness } from '@splitlet/testing';
import { FakePodApi } from './__fixtures__/fake-pod-api';
import { EVENTS_CONSUMER, EventWriter, removeUnshardedConsumer } from './event-writer';
import { PodStatusManager } from './pod-status-manager';
import { SR } from './tokens';

// The Events stream on a real nats-server: what was published while the writer was
// away is written when it runs, and an Event whose write takes longer than the
// stream's acknowledgement wait (10 s) is still written once, not handed out again.
const pod: V1Pod = { metadata: { uid: 'uid-web', name: 'web', namespace: 'default' }, spec: { nodeName: 'test-node', containers: [{ name: 'app' }] }, status: { phase: 'Running' } };
const target = { namespace: 'default', name: 'web', uid: 'uid-web' };
const db: V1Pod = { metadata: { uid: 'uid-db', name: 'db', namespace: 'default' }, spec: { nodeName: 'test-node', containers: [{ name: 'app' }] }, status: { phase: 'Running' } };
const pods = [pod, db];

describe('status-reporter EventWriter on the Events stream', () => {
  let h: ServiceHarness;
  let api: FakePodApi;
  let abort: AbortController;
  beforeEach(async () => {
    abort = new AbortController();
    h = await startServiceHarness('status-reporter');
    api = new FakePodApi();
    h.container.registerInstance(SR.PodApi, api);
    h.container.registerInstance(SR.PodCache, { byUid: (uid: string) => pods.find((p) => p.metadata?.uid === uid), byName: (ns: string, name: string) => pods.find((p) => p.metadata?.namespace === ns && p.metadata.name === name) });
    await ensureKubeEventsStream(h.peer, h.nodeName);
  });
  afterEach(async () => {
    abort.abort();
    await h.close();
  });

  it('EventWriter - Events published while it was away are written once it runs, in order, each once', async () => {
    for (const reason of ['Pulled', 'Created', 'Started']) recordPodEvent(h.peer, h.nodeName, target, 'Normal', reason, `${reason} container app`);
    await new Promise((r) => setTimeout(r, 200));
    const writer = h.container.resolve(EventWriter);
    void writer.run(abort.signal);
    await expect.poll(() => api.events.map((e) => e.reason), { timeout: 5000 }).toEqual(['Pulled', 'Created', 'Started']);
    await new Promise((r) => setTimeout(r, 500));
    expect(api.events.map((e) => e.count)).toEqual([1, 1, 1]);
    expect(api.eventPatches).toEqual([]);
  });

  it('EventWriter - a write slower than the acknowledgement wait is kept in progress: the Event is written once', async () => {
    let release!: () => void;
    api.gate = new Promise((r) => (release = r));
    const writer = h.container.resolve(EventWriter);
    void writer.run(abort.signal);
    recordPodEvent(h.peer, h.nodeName, target, 'Warning', 'Evicted', 'The node was low on resource: memory. ');
    await new Promise((r) => setTimeout(r, 12_000));
    release();
    await expect.poll(() => api.events.length, { timeout: 5000 }).toBe(1);
    await new Promise((r) => setTimeout(r, 1000));
    expect(api.events.map((e) => e.count)).toEqual([1]);
    expect(api.eventPatches).toEqual([]);
  }, 30_000);

  it("EventWriter - each shard's writer takes its own shard's Events (a pod's all meet one writer), refuses a pod's Event put on another shard, and replaces the unsharded consumer of before", async () => {
    const [webShard, dbShard] = [statusShardOf('uid-web'), statusShardOf('uid-db')];
    expect(webShard).not.toBe(dbShard);
    // A status-reporter before the split left its durable consumer of the whole stream.
    const jsm = await jetstreamManager(h.peer);
    await jsm.consumers.add(kubeEventsStreamName(h.nodeName), { durable_name: EVENTS_CONSUMER, ack_policy: AckPolicy.Explicit });
    // A replica removes it once at its start (container.ts), before it holds any shard.
    await removeUnshardedConsumer(h.peer, h.nodeName);
    const writerOf = (shard: number) => {
      const scope = h.container.createChildContainer();
      scope.registerInstance(SR.Shard, shard);
      return scope.resolve(EventWriter);
    };
    const [webWriter, dbWriter] = [writerOf(webShard), writerOf(dbShard)];
    void webWriter.run(abort.signal);
    void dbWriter.run(abort.signal);
    for (const reason of ['Pulled', 'Created', 'Started']) {
      recordPodEvent(h.peer, h.nodeName, target, 'Normal', reason, `${reason} container app`);
      recordPodEvent(h.peer, h.nodeName, { namespace: 'default', name: 'db', uid: 'uid-db' }, 'Normal', reason, `${reason} container app`);
    }
    // db's Event on web's shard: a second writer for db, whose counts would split.
    const forged = create(KubeEventSchema, { involvedObject: { kind: 'Pod', namespace: 'default', name: 'db', uid: 'uid-db' }, type: 'Warning', reason: 'Forged', message: 'x' });
    h.peer.publish(shardEventsSubject(h.nodeName, webShard), toBinary(KubeEventSchema, forged));
    await expect.poll(() => api.events.length, { timeout: 5000 }).toBe(6);
    await expect.poll(() => webWriter.writes.refused, { timeout: 5000 }).toBe(1);
    expect([webWriter.writes.creates, dbWriter.writes.creates, dbWriter.writes.refused]).toEqual([3, 3, 0]);
    expect(api.events.filter((e) => e.involvedObject.name === 'db').map((e) => e.reason)).toEqual(['Pulled', 'Created', 'Started']);
    expect(api.events.map((e) => e.count)).toEqual([1, 1, 1, 1, 1, 1]);
  });

  it("EventWriter and PodStatusManager - a shard's writers told to stop while they still set up their consumers return at once, so the shard can be handed over", async () => {
    await ensureStatusStream(h.peer, h.nodeName);
    h.container.registerInstance(SR.ReconcileMs, 10_000);
    h.container.registerInstance(SR.NodeHeartbeat, { beating: () => true });
    const shard = statusShardOf('uid-web');
    const scope = h.container.createChildContainer();
    scope.registerInstance(SR.Shard, shard);
    const writers = [scope.resolve(PodStatusManager), scope.resolve(EventWriter)];
    const term = new AbortController();
    const done = Promise.all(writers.map((w) => w.run(term.signal)));
    // The term ends before either has its consumer (a second replica joined at once).
    term.abort();
    const timeout = new Promise<'still running'>((r) => setTimeout(() => r('still running'), 5_000).unref());
    expect(await Promise.race([done.then(() => 'returned' as const), timeout])).toBe('returned');
    // The next holder's writers take the shard's Events and statuses as before.
    const next = h.container.createChildContainer();
    next.registerInstance(SR.Shard, shard);
    void next.resolve(EventWriter).run(abort.signal);
    recordPodEvent(h.peer, h.nodeName, target, 'Normal', 'Pulled', 'Pulled container app');
    await expect.poll(() => api.events.map((e) => e.reason), { timeout: 5000 }).toEqual(['Pulled']);
  });
});
