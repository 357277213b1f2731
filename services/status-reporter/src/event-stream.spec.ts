import 'reflect-metadata';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { V1Pod } from '@kubernetes/client-node';
import { ensureKubeEventsStream, recordPodEvent } from '@splitlet/bus';
import { startServiceHarness, type ServiceHarness } from '@splitlet/testing';
import { FakePodApi } from './__fixtures__/fake-pod-api';
import { EventWriter } from './event-writer';
import { SR } from './tokens';

// The Events stream on a real nats-server: what was published while the writer was
// away is written when it runs, and an Event whose write takes longer than the
// stream's acknowledgement wait (10 s) is still written once, not handed out again.
const pod: V1Pod = { metadata: { uid: 'uid-web', name: 'web', namespace: 'default' }, spec: { nodeName: 'test-node', containers: [{ name: 'app' }] }, status: { phase: 'Running' } };
const target = { namespace: 'default', name: 'web', uid: 'uid-web' };

describe('status-reporter EventWriter on the Events stream', () => {
  let h: ServiceHarness;
  let api: FakePodApi;
  let abort: AbortController;
  beforeEach(async () => {
    abort = new AbortController();
    h = await startServiceHarness('status-reporter');
    api = new FakePodApi();
    h.container.registerInstance(SR.PodApi, api);
    h.container.registerInstance(SR.PodCache, { byUid: (uid: string) => (uid === 'uid-web' ? pod : undefined), byName: (ns: string, name: string) => (ns === 'default' && name === 'web' ? pod : undefined) });
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
});
