import 'reflect-metadata';
import { beforeEach, describe, expect, it } from 'vitest';
import { container } from 'tsyringe';
import { create } from '@bufbuild/protobuf';
import { KubeEventSchema } from '@splitlet/contracts';
import { TOKENS } from '@splitlet/service';
import { createLogger } from '@splitlet/telemetry';
import { FakeClock } from '@splitlet/testing';
import { FakePodApi } from './__fixtures__/fake-pod-api';
import { EventWriter, SPAM_BURST, SPAM_REFILL_MS } from './event-writer';
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
    for (let i = 0; i < SPAM_BURST + 5; i++) await writer.write(event('Test', `message ${i}`, 'web', (stamp += 1000n)));
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
});
