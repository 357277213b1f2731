import 'reflect-metadata';
import { beforeEach, describe, expect, it } from 'vitest';
import { container } from 'tsyringe';
import { create } from '@bufbuild/protobuf';
import { KubeEventSchema } from '@splitlet/contracts';
import { TOKENS } from '@splitlet/service';
import { createLogger } from '@splitlet/telemetry';
import type { V1Pod } from '@kubernetes/client-node';
import { statusv1 } from '@splitlet/contracts';
import { FakeClock } from '@splitlet/testing';
import { FakePodApi } from './__fixtures__/fake-pod-api';
import { AGGREGATE_INTERVAL_MS, COMBINED_PREFIX, EventWriter, SPAM_BURST, SPAM_REFILL_MS } from './event-writer';
import { CACHE_WAIT_MS } from './pod-cache';
import { PodStatusManager } from './pod-status-manager';
import { SR } from './tokens';

let stamp = 1_764_331_200_000_000_000n;
const event = (reason: string, message: string, name = 'web', timestamp = stamp, uid = `uid-${name}`) =>
  create(KubeEventSchema, {
    involvedObject: { kind: 'Pod', apiVersion: 'v1', namespace: 'default', name, uid, fieldPath: 'spec.containers{app}' },
    type: 'Normal',
    reason,
    message,
    timestamp,
  });

/** A pod bound to the node, as the pod cache has it. */
const boundPod = (name: string, uid = `uid-${name}`, deleting = false): V1Pod => ({
  metadata: { uid, name, namespace: 'default', ...(deleting ? { deletionTimestamp: new Date() } : {}) },
  spec: { nodeName: 'node-a', containers: [{ name: 'app' }] },
  status: { phase: 'Running' },
});

describe('status-reporter EventWriter', () => {
  let api: FakePodApi;
  let clock: FakeClock;
  let writer: EventWriter;
  let c: ReturnType<typeof container.createChildContainer>;
  /** The pod cache's pods, by UID. */
  const cached = new Map<string, V1Pod>();
  const cache = {
    byUid: (uid: string) => cached.get(uid),
    byName: (ns: string, name: string) => [...cached.values()].find((p) => p.metadata!.namespace === ns && p.metadata!.name === name),
  };
  beforeEach(() => {
    api = new FakePodApi();
    clock = new FakeClock();
    cached.clear();
    for (const name of ['web', 'db']) cached.set(`uid-${name}`, boundPod(name));
    c = container.createChildContainer();
    c.registerInstance(SR.PodApi, api);
    c.registerInstance(SR.PodCache, cache);
    c.registerInstance(TOKENS.Nats, {});
    c.registerInstance(TOKENS.NodeName, 'node-a');
    c.registerInstance(TOKENS.Clock, clock);
    c.registerInstance(TOKENS.Logger, createLogger('t', { level: 'silent' }));
    writer = c.resolve(EventWriter);
  });

  it('EventWriter - an Event as the kubelet writes it: involved object, field path, source kubelet on the node', async () => {
    await writer.write(event('Started', 'Started container app'));
    expect(api.events).toEqual([
      {
        metadata: { name: `web.${(1_764_331_200_000_000_000n).toString(16)}`, namespace: 'default' },
        involvedObject: { kind: 'Pod', namespace: 'default', name: 'web', uid: 'uid-web', apiVersion: 'v1', fieldPath: 'spec.containers{app}' },
        reason: 'Started',
        message: 'Started container app',
        type: 'Normal',
        source: { component: 'kubelet', host: 'node-a' },
        firstTimestamp: '2025-11-28T12:00:00Z',
        lastTimestamp: '2025-11-28T12:00:00Z',
        count: 1,
        reportingComponent: 'kubelet',
        reportingInstance: 'node-a',
      },
    ]);
  });

  it('EventWriter - an annotated event (the recorder\'s AnnotatedEventf, the Evicted one) is an Event with those annotations', async () => {
    const annotations = { offending_containers: 'app', offending_containers_usage: '150Mi', starved_resource: 'memory' };
    await writer.write(create(KubeEventSchema, { ...event('Evicted', 'The node was low on resource: memory. '), type: 'Warning', annotations }));
    expect(api.events.map((e) => [e.reason, e.metadata?.annotations])).toEqual([['Evicted', annotations]]);
  });

  it('EventWriter - the same event again raises its count on the one Event', async () => {
    await writer.write(event('BackOff', 'Back-off restarting failed container app'));
    await writer.write(event('BackOff', 'Back-off restarting failed container app'));
    await writer.write(event('BackOff', 'Back-off restarting failed container app'));
    expect(api.events).toHaveLength(1);
    expect(api.eventPatches.map((p) => (p.patch as { count: number }).count)).toEqual([2, 3]);
  });

  it('EventWriter - a flood from one object is throttled after 25, then one per 5 minutes', async () => {
    for (let i = 0; i < SPAM_BURST + 5; i++) await writer.write(event(`Test${i}`, `message ${i}`, 'web', (stamp += 1000n)));
    expect(api.events).toHaveLength(SPAM_BURST);
    expect(writer.writes.dropped).toBe(5);
    await writer.write(event('Test', 'other pod', 'db'));
    expect(api.events).toHaveLength(SPAM_BURST + 1);
    await clock.advance(SPAM_REFILL_MS);
    await writer.write(event('Test', 'after the refill', 'web', (stamp += 1000n)));
    expect(api.events).toHaveLength(SPAM_BURST + 2);
  });

  it('EventWriter - two Events stamped the same nanosecond (two services) are both written, under names of their own', async () => {
    await writer.write(event('Failed', 'Failed to pull image "x"'));
    await writer.write(event('Failed', 'Error: ErrImagePull'));
    expect(api.events.map((e) => e.message)).toEqual(['Failed to pull image "x"', 'Error: ErrImagePull']);
    expect(new Set(api.events.map((e) => e.metadata.name)).size).toBe(2);
  });

  it('EventWriter - a throttled repeat is still counted: the next one let through carries every occurrence', async () => {
    for (let i = 0; i < SPAM_BURST + 5; i++) await writer.write(event('BackOff', 'Back-off restarting failed container app'));
    expect(writer.writes.dropped).toBe(5);
    expect(api.events[0]!.count).toBe(SPAM_BURST);
    await clock.advance(SPAM_REFILL_MS);
    await writer.write(event('BackOff', 'Back-off restarting failed container app'));
    expect(api.events).toHaveLength(1);
    expect(api.events[0]!.count).toBe(SPAM_BURST + 6);
  });

  it('EventWriter - an Event deleted meanwhile is created again under its name, with the count so far', async () => {
    await writer.write(event('BackOff', 'Back-off restarting failed container app'));
    await writer.write(event('BackOff', 'Back-off restarting failed container app'));
    const name = api.events[0]!.metadata.name;
    api.events = [];
    await writer.write(event('BackOff', 'Back-off restarting failed container app', 'web', stamp + 5_000_000_000n));
    expect(api.events).toMatchObject([{ metadata: { name }, count: 3, firstTimestamp: '2025-11-28T12:00:00Z', lastTimestamp: '2025-11-28T12:00:05Z' }]);
  });

  it('EventWriter - events arriving together are written one after another: a repeat waits for the create of the Event it repeats', async () => {
    let open = () => {};
    api.gate = new Promise<void>((r) => (open = r));
    const written = Promise.all([1, 2, 3].map(() => writer.write(event('BackOff', 'Back-off restarting failed container app'))));
    await clock.settle();
    open();
    await written;
    expect(api.events).toHaveLength(1);
    expect(api.events[0]!.count).toBe(3);
  });

  describe('similar events (client-go EventAggregator: same object, type and reason, another message)', () => {
    const mount = (i: number | string) => event('FailedMount', `MountVolume.SetUp failed for volume "v${i}" : configmap "c${i}" not found`, 'web', (stamp += 1000n));
    const combinedOf = (i: number | string) => `${COMBINED_PREFIX}MountVolume.SetUp failed for volume "v${i}" : configmap "c${i}" not found`;
    const plain = () => api.events.filter((e) => !e.message!.startsWith(COMBINED_PREFIX));
    const combined = () => api.events.filter((e) => e.message!.startsWith(COMBINED_PREFIX));

    it('EventWriter - 9 distinct messages are Events of their own; the 10th is the combined Event, which the next ones count', async () => {
      for (let i = 0; i < 9; i++) await writer.write(mount(i));
      expect(api.events.map((e) => [e.message, e.count])).toEqual([...Array(9).keys()].map((i) => [`MountVolume.SetUp failed for volume "v${i}" : configmap "c${i}" not found`, 1]));

      await writer.write(mount(9));
      expect(plain()).toHaveLength(9);
      // client-go's combined Event: named and stamped by the correlator's clock, no reporting controller.
      expect(combined()).toEqual([
        {
          metadata: { name: `web.${(BigInt(clock.now()) * 1_000_000n).toString(16)}`, namespace: 'default' },
          involvedObject: { kind: 'Pod', namespace: 'default', name: 'web', uid: 'uid-web', apiVersion: 'v1', fieldPath: 'spec.containers{app}' },
          reason: 'FailedMount',
          message: combinedOf(9),
          type: 'Normal',
          source: { component: 'kubelet', host: 'node-a' },
          firstTimestamp: '2026-01-01T00:00:00Z',
          lastTimestamp: '2026-01-01T00:00:00Z',
          count: 1,
        },
      ]);

      await clock.advance(5_000);
      await writer.write(mount(10));
      expect(plain()).toHaveLength(9);
      expect(combined()).toMatchObject([{ message: combinedOf(10), count: 2, firstTimestamp: '2026-01-01T00:00:00Z', lastTimestamp: '2026-01-01T00:00:05Z' }]);
      expect(api.eventPatches.at(-1)!.patch).toEqual({ count: 2, lastTimestamp: '2026-01-01T00:00:05Z', message: combinedOf(10) });

      await writer.write(mount(11));
      expect(api.events).toHaveLength(10);
      expect(combined()).toMatchObject([{ message: combinedOf(11), count: 3 }]);
    });

    it('EventWriter - an exact repeat of a remembered message is still counted on its own Event, not combined', async () => {
      for (let i = 0; i < 10; i++) await writer.write(mount(i));
      await writer.write(mount(5));
      expect(api.events).toHaveLength(10);
      expect(api.events.find((e) => e.message!.includes('"v5"') && !e.message!.startsWith(COMBINED_PREFIX))!.count).toBe(2);
      expect(combined()).toMatchObject([{ count: 1 }]);
    });

    it('EventWriter - other reasons, types and objects are not similar', async () => {
      for (let i = 0; i < 9; i++) await writer.write(mount(i));
      await writer.write({ ...mount('w'), type: 'Warning' });
      await writer.write(event('Failed', 'another reason'));
      await writer.write(event('FailedMount', 'another pod', 'db'));
      expect(combined()).toEqual([]);
      expect(api.events).toHaveLength(12);
    });

    it('EventWriter - 10 minutes without a similar event and the distinct messages are counted from zero again', async () => {
      for (let i = 0; i < 10; i++) await writer.write(mount(i));
      // The interval runs from the last similar event: exactly 10 minutes later it still counts.
      await clock.advance(AGGREGATE_INTERVAL_MS);
      await writer.write(mount(10));
      expect(combined()).toMatchObject([{ count: 2 }]);

      await clock.advance(AGGREGATE_INTERVAL_MS + 1);
      for (let i = 0; i < 9; i++) await writer.write(mount(`late-${i}`));
      expect(plain()).toHaveLength(18);
      expect(combined()).toMatchObject([{ count: 2 }]);
      // The 10th of the new window is combined again, on the combined Event already written (client-go's
      // eventLogger remembers it under the aggregate key).
      await writer.write(mount('late-9'));
      expect(plain()).toHaveLength(18);
      expect(combined()).toMatchObject([{ message: combinedOf('late-9'), count: 3 }]);
    });
  });

  describe('only the node\'s own objects (issue 14: a forged event is refused)', () => {
    const objectEvent = (involvedObject: Record<string, string>, reason = 'Killing') => create(KubeEventSchema, { involvedObject, type: 'Normal', reason, message: 'Stopping container app', timestamp: (stamp += 1000n) });
    const written = () => api.events.map((e) => `${e.involvedObject.kind}/${e.involvedObject.namespace ?? ''}/${e.involvedObject.name}:${e.reason}`);

    it('EventWriter - an event about the node itself is written in "default", about the Node of no namespace', async () => {
      await writer.write(objectEvent({ kind: 'Node', apiVersion: 'v1', name: 'node-a', uid: 'node-a' }, 'NodeReady'));
      expect(api.events).toMatchObject([{ metadata: { namespace: 'default' }, involvedObject: { kind: 'Node', name: 'node-a', uid: 'node-a' }, reason: 'NodeReady' }]);
      expect(api.events[0]!.involvedObject.namespace).toBeUndefined();
      expect(writer.writes.refused).toBe(0);
    });

    it('EventWriter - a Node of another name, a Node in a namespace, another kind: refused at once', async () => {
      await writer.write(objectEvent({ kind: 'Node', name: 'node-b' }, 'NodeNotReady'));
      await writer.write(objectEvent({ kind: 'Node', name: 'node-a', namespace: 'default' }, 'NodeNotReady'));
      await writer.write(objectEvent({ kind: 'Node', name: 'node-a', uid: 'some-uid' }, 'NodeNotReady'));
      await writer.write(objectEvent({ kind: 'Secret', namespace: 'default', name: 'web' }, 'Leaked'));
      await writer.write(objectEvent({ kind: 'Pod', apiVersion: 'apps/v1', namespace: 'default', name: 'web', uid: 'uid-web' }));
      expect(api.events).toEqual([]);
      expect(writer.writes.refused).toBe(5);
      expect(clock.pending).toBe(0);
    });

    it('EventWriter - a UID of the pod cache under another name or namespace: refused at once', async () => {
      await writer.write(objectEvent({ kind: 'Pod', namespace: 'default', name: 'db', uid: 'uid-web' }));
      await writer.write(objectEvent({ kind: 'Pod', namespace: 'kube-system', name: 'web', uid: 'uid-web' }));
      expect(api.events).toEqual([]);
      expect(writer.writes.refused).toBe(2);
    });

    it('EventWriter - a pod of another node, a pod under another UID, a name that never appears: refused once the pod cache had time to show it; other events go on meanwhile', async () => {
      const forged = [
        writer.write(objectEvent({ kind: 'Pod', namespace: 'default', name: 'elsewhere', uid: 'uid-of-node-b' })),
        writer.write(objectEvent({ kind: 'Pod', namespace: 'default', name: 'web', uid: 'uid-impostor' })),
        writer.write(objectEvent({ kind: 'Pod', namespace: 'kube-system', name: 'never' })),
      ];
      await clock.settle();
      await writer.write(event('Started', 'Started container app', 'db'));
      expect(written()).toEqual(['Pod/default/db:Started']);
      await clock.advance(CACHE_WAIT_MS - 1);
      expect(writer.writes.refused).toBe(0);
      await clock.advance(1);
      await Promise.all(forged);
      expect(writer.writes.refused).toBe(3);
      expect(written()).toEqual(['Pod/default/db:Started']);
      expect(clock.pending).toBe(0);
    });

    it('EventWriter - a genuine event before the pod cache has its pod is written once it does, in order with the pod\'s next events', async () => {
      const first = writer.write(event('Pulling', 'Pulling image "x"', 'new'));
      const second = writer.write(event('Pulled', 'Successfully pulled image "x"', 'new', (stamp += 1000n)));
      await clock.settle();
      await writer.write(event('Started', 'Started container app', 'web'));
      expect(written()).toEqual(['Pod/default/web:Started']);
      await clock.advance(1_000);
      cached.set('uid-new', boundPod('new'));
      await clock.advance(5_000);
      await Promise.all([first, second]);
      expect(written()).toEqual(['Pod/default/web:Started', 'Pod/default/new:Pulling', 'Pod/default/new:Pulled']);
      expect(writer.writes.refused).toBe(0);
      // The next one is written at once.
      await writer.write(event('Started', 'Started container app', 'new', (stamp += 1000n)));
      expect(written().at(-1)).toBe('Pod/default/new:Started');
    });

    it('EventWriter - events of a pod the status manager just deleted (the pod cache has dropped it) are written; its UID under another name is not', async () => {
      c.registerInstance(SR.ReconcileMs, 10_000);
      c.registerInstance(SR.NodeHeartbeat, { beating: () => true });
      const manager = c.resolve(PodStatusManager);
      cached.set('uid-web', boundPod('web', 'uid-web', true));
      manager.offer(create(statusv1.PodStatusUpdateSchema, { podUid: 'uid-web', namespace: 'default', name: 'web', version: BigInt(clock.now()) * 1000n, terminated: true, status: { phase: 'Succeeded' } }));
      await expect.poll(() => api.deletes).toEqual([{ ns: 'default', name: 'web', uid: 'uid-web' }]);
      cached.delete('uid-web');
      await writer.write(event('Killing', 'Stopping container app', 'web'));
      expect(written()).toEqual(['Pod/default/web:Killing']);
      await writer.write(event('Killing', 'Stopping container app', 'db', stamp, 'uid-web'));
      expect(written()).toEqual(['Pod/default/web:Killing']);
      expect(writer.writes.refused).toBe(1);
    });
  });
});
