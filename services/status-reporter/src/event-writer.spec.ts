import 'reflect-metadata';
import { beforeEach, describe, expect, it } from 'vitest';
import { container } from 'tsyringe';
import { create } from '@bufbuild/protobuf';
import { KubeEventSchema } from '@splitlet/contracts';
import { TOKENS } from '@splitlet/service';
import { createLogger } from '@splitlet/telemetry';
import { FakeClock } from '@splitlet/testing';
import { FakePodApi } from './__fixtures__/fake-pod-api';
import { AGGREGATE_INTERVAL_MS, COMBINED_PREFIX, EventWriter, SPAM_BURST, SPAM_REFILL_MS } from './event-writer';
import { SR } from './tokens';

let stamp = 1_764_331_200_000_000_000n;
const event = (reason: string, message: string, name = 'web', timestamp = stamp) =>
  create(KubeEventSchema, {
    involvedObject: { kind: 'Pod', apiVersion: 'v1', namespace: 'default', name, uid: `uid-${name}`, fieldPath: 'spec.containers{app}' },
    type: 'Normal',
    reason,
    message,
    timestamp,
  });

describe('status-reporter EventWriter', () => {
  let api: FakePodApi;
  let clock: FakeClock;
  let writer: EventWriter;
  beforeEach(() => {
    api = new FakePodApi();
    clock = new FakeClock();
    const c = container.createChildContainer();
    c.registerInstance(SR.PodApi, api);
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
});
