import 'reflect-metadata';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { create, toBinary } from '@bufbuild/protobuf';
import { loadYaml, type V1Pod } from '@kubernetes/client-node';
import { statusv1 } from '@splitlet/contracts';
import { TOKENS } from '@splitlet/service';
import { FakeClock, startServiceHarness, type ServiceHarness } from '@splitlet/testing';
import { FakePodApi } from './__fixtures__/fake-pod-api';
import { ensureStatusStream, podStatusSubject, shardStatusesSubject, statusShardOf } from '@splitlet/bus';
import { GonePods } from './gone-pods';
import { PodStatusManager } from './pod-status-manager';
import { SR } from './tokens';


const update = (version: number, phase: string, terminated = false) =>
  create(statusv1.PodStatusUpdateSchema, {
    podUid: 'uid-1',
    namespace: 'default',
    name: 'web',
    version: BigInt(version),
    terminated,
    status: {
      phase,
      podIp: '172.17.0.5',
      podIps: ['172.17.0.5'],
      startTime: 1_764_331_200_000_000_000n,
      conditions: [{ type: 'Ready', status: phase === 'Running' ? 'True' : 'False', lastTransitionTime: 1_764_331_200_000_000_000n }],
      containerStatuses: [{ name: 'app', ready: phase === 'Running', image: 'splitlet-lab/testbox:1', state: appState(phase) }],
    },
  });

/** The app container's state as pod-sync reports it in that phase: running, or exited once the pod is finished. */
function appState(phase: string) {
  const terminal = phase === 'Succeeded' || phase === 'Failed';
  return terminal
    ? { state: { case: 'terminated' as const, value: { exitCode: phase === 'Failed' ? 1 : 0, startedAt: 1_764_331_201_000_000_000n, finishedAt: 1_764_331_202_000_000_000n } } }
    : { state: { case: 'running' as const, value: { startedAt: 1_764_331_201_000_000_000n } } };
}

/** A pod bound to the node as the pod cache holds it (no status yet). */
const boundPod = (uid: string, name: string, deleting = false): V1Pod => ({
  metadata: { uid, name, namespace: 'default', ...(deleting ? { deletionTimestamp: new Date('2026-01-01T00:00:00Z') } : {}) },
  spec: { nodeName: 'test-node', containers: [{ name: 'app' }] },
});

const T = 1_764_331_200_000_000_000n; // 2025-11-28T12:00:00Z in ns
const SEC = 1_000_000_000n;
/** A status as pod-sync stamps it: its Ready condition's lastTransitionTime and startTime as given. */
const stamped = (version: number, o: { ready: boolean; readyAt: bigint; startAt: bigint; uid?: string; name?: string }) =>
  create(statusv1.PodStatusUpdateSchema, {
    podUid: o.uid ?? 'uid-1',
    namespace: 'default',
    name: o.name ?? 'web',
    version: BigInt(version),
    status: {
      phase: 'Running',
      startTime: o.startAt,
      conditions: [{ type: 'Ready', status: o.ready ? 'True' : 'False', lastTransitionTime: o.readyAt }],
      containerStatuses: [{ name: 'app', ready: o.ready, image: 'splitlet-lab/testbox:1', state: { state: { case: 'running', value: { startedAt: T } } } }],
    },
  });

/** Whether the node heartbeats (its Ready condition is not Unknown), as the test sets it. */
let beating = true;
const heartbeat = { beating: () => beating };

describe('status-reporter PodStatusManager', () => {
  let h: ServiceHarness;
  let api: FakePodApi;
  let clock: FakeClock;
  let manager: PodStatusManager;
  /** The pods as the API server has them (the informer's cache), by UID. */
  const cached = new Map<string, V1Pod>();
  /** What the API server holds once a patch is applied (a JSON round trip, as a GET would give it). */
  const asApiHas = (status: object): V1Pod =>
    loadYaml<V1Pod>(
      JSON.stringify({ apiVersion: 'v1', kind: 'Pod', metadata: { uid: 'uid-1', name: 'web', namespace: 'default' }, status }, (k, v: unknown) =>
        Array.isArray(v) ? v.filter((x: { $patch?: string }) => !x?.$patch) : v,
      ),
    );

  beforeEach(async () => {
    h = await startServiceHarness('status-reporter');
    api = new FakePodApi();
    clock = new FakeClock();
    h.container.registerInstance(SR.PodApi, api);
    h.container.registerInstance(TOKENS.Clock, clock);
    cached.clear();
    cached.set('uid-1', boundPod('uid-1', 'web'));
    cached.set('uid-2', boundPod('uid-2', 'db'));
    h.container.registerInstance(SR.PodCache, { byUid: (uid: string) => cached.get(uid) });
    h.container.registerInstance(SR.ReconcileMs, 10_000);
    beating = true;
    h.container.registerInstance(SR.NodeHeartbeat, heartbeat);
    manager = h.container.resolve(PodStatusManager);
  });
  afterEach(() => h.close());

  const settled = () => expect.poll(() => manager.idle, { timeout: 2000 }).toBe(true);

  it('PodStatusManager - writes the status as the API\'s JSON, with the pod UID as a precondition', async () => {
    manager.offer(update(1, 'Running'));
    await settled();
    expect(api.patches).toHaveLength(1);
    expect(api.patches[0]).toEqual({
      ns: 'default',
      name: 'web',
      patch: {
        metadata: { uid: 'uid-1' },
        status: {
          // What the status lacks is deleted (the kubelet's patch from old to new would).
          message: null,
          reason: null,
          hostIP: null,
          initContainerStatuses: null,
          ephemeralContainerStatuses: null,
          phase: 'Running',
          podIP: '172.17.0.5',
          // podIPs and hostIPs are replaced, not merged by IP (a strategic merge patch directive).
          podIPs: [{ ip: '172.17.0.5' }, { $patch: 'replace' }],
          hostIPs: [{ $patch: 'replace' }],
          startTime: '2025-11-28T12:00:00Z',
          // A condition's reason and message, absent, are deleted (null): a merge keeps an old one otherwise.
          conditions: [{ type: 'Ready', status: 'True', lastTransitionTime: '2025-11-28T12:00:00Z', lastProbeTime: null, reason: null, message: null }],
          containerStatuses: [
            { name: 'app', ready: true, restartCount: 0, image: 'splitlet-lab/testbox:1', state: { running: { startedAt: '2025-11-28T12:00:01Z' } }, lastState: {} },
          ],
        },
      },
    });
  });

  it('PodStatusManager - older and repeated versions are dropped; a burst is one write of the newest', async () => {
    let open!: () => void;
    api.gate = new Promise((r) => (open = r));
    manager.offer(update(1, 'Pending'));
    manager.offer(update(3, 'Running'));
    manager.offer(update(2, 'Pending')); // stale
    manager.offer(update(3, 'Pending')); // repeated version
    manager.offer(update(4, 'Running'));
    open();
    await settled();
    expect(api.patches.map((p) => p.patch.status.phase)).toEqual(['Pending', 'Running']);
    manager.offer(update(2, 'Failed'));
    await settled();
    expect(api.patches).toHaveLength(2);
  });

  it('PodStatusManager - an unchanged status is not written again', async () => {
    manager.offer(update(1, 'Running'));
    await settled();
    manager.offer(update(2, 'Running'));
    await settled();
    expect(api.patches).toHaveLength(1);
  });

  it('PodStatusManager - a failed write is retried with back-off; a newer status is tried at once and wins', async () => {
    api.failures = [503, 503];
    manager.offer(update(1, 'Pending'));
    await expect.poll(() => clock.pending).toBe(1);
    expect(api.attempts).toHaveLength(1);
    // The kubelet syncs on every status it is handed: the newer one does not wait out the 200 ms.
    manager.offer(update(2, 'Running'));
    await expect.poll(() => api.attempts.length).toBe(2); // without the clock moving
    await expect.poll(() => clock.pending).toBe(1); // failed too: now 400 ms
    await clock.advance(399);
    expect(api.attempts).toHaveLength(2);
    await clock.advance(1);
    await settled();
    expect(api.patches.map((p) => p.patch.status.phase)).toEqual(['Running']);
    expect(api.attempts).toHaveLength(3);
  });

  it('PodStatusManager - a terminated pod: the status is written, then the deletion completed under its UID', async () => {
    manager.offer(update(1, 'Running'));
    cached.set('uid-1', boundPod('uid-1', 'web', true));
    manager.offer(update(2, 'Succeeded', true));
    await settled();
    expect(api.patches.at(-1)?.patch.status.phase).toBe('Succeeded');
    expect(api.deletes).toEqual([{ ns: 'default', name: 'web', uid: 'uid-1' }]);
  });

  it('PodStatusManager - an update that comes after the pod was deleted is not written (no PATCH to answer 404)', async () => {
    manager.offer(update(1, 'Running'));
    cached.set('uid-1', boundPod('uid-1', 'web', true));
    manager.offer(update(2, 'Succeeded', true));
    await settled();
    const writes = api.patches.length;
    manager.offer(update(3, 'Succeeded'));
    await settled();
    expect(api.patches).toHaveLength(writes);
    expect(api.deletes).toHaveLength(1);
  });

  it('PodStatusManager - a pod deleted by someone else (a force delete: no terminated status, the pod cache sees it go) is forgotten at the next reconcile; its late statuses are not written', async () => {
    manager.offer(update(1, 'Running'));
    manager.offer({ ...update(1, 'Running'), podUid: 'uid-2', name: 'db' });
    await settled();
    expect(manager.tracked).toBe(2);
    cached.delete('uid-1');
    h.container.resolve(GonePods).add({ uid: 'uid-1', namespace: 'default', name: 'web' });
    manager.reconcile();
    expect(manager.tracked).toBe(1);
    const writes = api.patches.length;
    manager.offer(update(2, 'Running'));
    await settled();
    expect([api.patches.length, manager.tracked]).toEqual([writes, 1]);
  });

  it('PodStatusManager - a status the API server refuses (422) is not retried, and the next one is written', async () => {
    api.failures = [422];
    manager.offer(update(1, 'Running'));
    await settled();
    expect(clock.pending).toBe(0);
    manager.offer(update(2, 'Succeeded'));
    await settled();
    expect(api.patches.map((p) => p.patch.status.phase)).toEqual(['Succeeded']);
  });

  it('PodStatusManager - a pod that is gone (404) is dropped, not retried', async () => {
    api.failures = [404];
    manager.offer(update(1, 'Running'));
    await settled();
    expect(api.patches).toHaveLength(0);
    expect(clock.pending).toBe(0);
  });

  it('PodStatusManager - garbage on the subject is dropped and the next update still written', async () => {
    const abort = new AbortController();
    await ensureStatusStream(h.peer, h.nodeName);
    const running = manager.run(abort.signal);
    await manager.live;
    h.peer.publish(podStatusSubject(h.nodeName, 'uid-1'), new Uint8Array([0xff, 0xff, 0xff]));
    h.peer.publish(podStatusSubject(h.nodeName, 'uid-1'), toBinary(statusv1.PodStatusUpdateSchema, update(1, 'Running')));
    await expect.poll(() => api.patches.length, { timeout: 2000 }).toBe(1);
    abort.abort();
    await running;
  });

  it("PodStatusManager - a shard's manager writes its shard's pods only; a status put under another shard's subject is refused", async () => {
    await ensureStatusStream(h.peer, h.nodeName);
    const [shard, other] = [statusShardOf('uid-1'), statusShardOf('uid-2')];
    expect(shard).not.toBe(other);
    const scope = h.container.createChildContainer();
    scope.registerInstance(SR.Shard, shard);
    const mine = scope.resolve(PodStatusManager);
    const abort = new AbortController();
    const running = mine.run(abort.signal);
    await mine.live;
    const publish = (subject: string, u: statusv1.PodStatusUpdate) => h.peer.publish(subject, toBinary(statusv1.PodStatusUpdateSchema, u));
    // uid-2 is another shard's: its own subject is not read here, and under this shard's
    // subjects (a forged one) it is refused — it would have a second writer.
    publish(podStatusSubject(h.nodeName, 'uid-2'), { ...update(1, 'Running'), podUid: 'uid-2', name: 'db' });
    publish(shardStatusesSubject(h.nodeName, shard).replace('*', 'uid-2'), { ...update(2, 'Running'), podUid: 'uid-2', name: 'db' });
    publish(podStatusSubject(h.nodeName, 'uid-1'), update(1, 'Running'));
    await expect.poll(() => api.patches.length, { timeout: 2000 }).toBe(1);
    await expect.poll(() => mine.rejected['no-identity'], { timeout: 2000 }).toBe(1);
    expect(api.patches.map((p) => p.name)).toEqual(['web']);
    abort.abort();
    await running;
  });

  it('PodStatusManager - statuses handed over while it was away: the latest of each pod is written once it returns; a pod gone before its first list is not waited for', async () => {
    await ensureStatusStream(h.peer, h.nodeName);
    const publishNow = (u: statusv1.PodStatusUpdate) => h.peer.publish(podStatusSubject(h.nodeName, u.podUid), toBinary(statusv1.PodStatusUpdateSchema, u));
    publishNow(update(1, 'Pending'));
    publishNow(update(2, 'Running'));
    publishNow({ ...update(1, 'Running'), podUid: 'uid-2', name: 'db' });
    // A pod deleted while pod-sync was away: the cache's first list does not have it.
    publishNow({ ...update(1, 'Running'), podUid: 'uid-gone', name: 'gone' });
    await h.peer.flush();
    const cache = { byUid: (uid: string) => cached.get(uid), synced: new Promise<number>((r) => setTimeout(() => r(Date.now() + 10_000), 50)) };
    h.container.registerInstance(SR.PodCache, cache);
    const back = h.container.resolve(PodStatusManager);
    const abort = new AbortController();
    const running = back.run(abort.signal);
    await back.live;
    await expect.poll(() => api.patches.length, { timeout: 2000 }).toBe(2);
    await expect.poll(() => back.idle, { timeout: 2000 }).toBe(true);
    expect(api.patches.map((p) => [p.name, p.patch.status.phase])).toEqual([
      ['web', 'Running'],
      ['db', 'Running'],
    ]);
    expect(back.staleDropped).toBe(1);
    expect(back.rejected['not-bound']).toBe(0);
    abort.abort();
    await running;
  });

  it('PodStatusManager - after a restart, a status the API server already holds is not written again', async () => {
    manager.offer(update(1, 'Running'));
    await settled();
    expect(api.patches).toHaveLength(1);
    cached.set('uid-1', asApiHas(api.patches[0]!.patch.status));
    // A new manager (status-reporter restarted) receives pod-sync's next publication of the same status.
    const restarted = h.container.resolve(PodStatusManager);
    restarted.offer(update(2, 'Running'));
    await expect.poll(() => restarted.idle, { timeout: 2000 }).toBe(true);
    expect(api.patches).toHaveLength(1);
    restarted.offer(update(3, 'Succeeded'));
    await expect.poll(() => restarted.idle, { timeout: 2000 }).toBe(true);
    expect(api.patches.map((p) => p.patch.status.phase)).toEqual(['Running', 'Succeeded']);
  });

  it('PodStatusManager - the reconcile writes the latest status again where the API server holds another, and only there', async () => {
    manager.offer(update(1, 'Running'));
    await settled();
    cached.set('uid-1', asApiHas(api.patches[0]!.patch.status));
    await clock.advance(10_000);
    manager.reconcile();
    await settled();
    expect(api.patches).toHaveLength(1); // in place: nothing to do
    // Someone else wrote the status (or our write was lost): the next reconcile repairs it.
    cached.set('uid-1', asApiHas({ ...api.patches[0]!.patch.status, phase: 'Pending' }));
    manager.reconcile();
    await settled();
    expect(api.patches.map((p) => p.patch.status.phase)).toEqual(['Running', 'Running']);
  });

  it('PodStatusManager - while the node is not heartbeating (Ready Unknown), the reconcile leaves the controller\'s not-ready marks alone; new statuses are written; the repair comes once it heartbeats again', async () => {
    manager.offer(update(1, 'Running'));
    await settled();
    // The node lifecycle controller marked the pod not ready (MarkPodsNotReady) while the node is Unknown.
    beating = false;
    cached.set('uid-1', asApiHas({ ...api.patches[0]!.patch.status, conditions: [{ type: 'Ready', status: 'False', lastTransitionTime: '2025-11-28T12:05:00Z' }] }));
    await clock.advance(10_000);
    manager.reconcile();
    await settled();
    expect(api.patches).toHaveLength(1);
    // A real change from pod-sync still goes.
    manager.offer(update(2, 'Succeeded'));
    await settled();
    expect(api.patches.map((p) => p.patch.status.phase)).toEqual(['Running', 'Succeeded']);
    cached.set('uid-1', asApiHas({ ...api.patches[1]!.patch.status, conditions: [{ type: 'Ready', status: 'False', lastTransitionTime: '2025-11-28T12:05:00Z' }], phase: 'Running' }));
    await clock.advance(10_000);
    manager.reconcile();
    await settled();
    expect(api.patches).toHaveLength(2);
    // The node heartbeats again: the next reconcile repairs.
    beating = true;
    manager.reconcile();
    await settled();
    expect(api.patches.map((p) => p.patch.status.phase)).toEqual(['Running', 'Succeeded', 'Succeeded']);
  });

  it('PodStatusManager - times settle against the newest status held: an unchanged condition keeps its lastTransitionTime, startTime never moves, a transition is dated when it is received', async () => {
    const ready = (i: number) => api.patches[i]!.patch.status as { startTime: string; conditions: { type: string; status: string; lastTransitionTime: string }[] };
    manager.offer(stamped(1, { ready: true, readyAt: T, startAt: T }));
    await settled();
    // pod-sync stamped again against its (lagging) copy of the pod: the same status, not written again.
    manager.offer(stamped(2, { ready: true, readyAt: T + 5n * SEC, startAt: T + 5n * SEC }));
    await settled();
    expect(api.patches).toHaveLength(1);
    // A transition stamped with a stale time (the copy pod-sync compared with was older still) is dated now.
    manager.offer(stamped(3, { ready: false, readyAt: T, startAt: T + 6n * SEC }));
    await settled();
    expect(api.patches).toHaveLength(2);
    expect(ready(1).conditions).toEqual([{ type: 'Ready', status: 'False', lastTransitionTime: '2026-01-01T00:00:00Z', lastProbeTime: null, reason: null, message: null }]);
    expect(ready(1).startTime).toBe('2025-11-28T12:00:00Z');
    await clock.advance(7_000);
    manager.offer(stamped(4, { ready: false, readyAt: T + 7n * SEC, startAt: T + 7n * SEC }));
    await settled();
    expect(api.patches).toHaveLength(2);
  });

  it('PodStatusManager - the first status of a pod settles against the API server\'s (another writer marked it not ready meanwhile)', async () => {
    cached.set('uid-1', asApiHas({ startTime: '2025-11-28T11:00:00Z', conditions: [{ type: 'Ready', status: 'False', lastTransitionTime: '2025-11-28T12:30:00Z' }] }));
    manager.offer(stamped(1, { ready: true, readyAt: T, startAt: T }));
    await settled();
    expect(api.patches[0]!.patch.status).toMatchObject({
      startTime: '2025-11-28T11:00:00Z',
      conditions: [{ type: 'Ready', status: 'True', lastTransitionTime: '2026-01-01T00:00:00Z' }],
    });
  });

  it('PodStatusManager - while the API server is away a write is retried with back-off capped at the reconcile period', async () => {
    api.unreachable = true;
    manager.offer(update(1, 'Running'));
    await expect.poll(() => api.attempts.length).toBe(1);
    await clock.advance(200 + 400 + 800 + 1600 + 3200 + 6400);
    expect(api.attempts).toHaveLength(7);
    await clock.advance(9_999);
    expect(api.attempts).toHaveLength(7);
    await clock.advance(1);
    expect(api.attempts).toHaveLength(8);
    await clock.advance(10_000);
    expect(api.attempts).toHaveLength(9);
    api.unreachable = false;
    await clock.advance(10_000);
    await settled();
    expect(api.patches.map((p) => p.patch.status.phase)).toEqual(['Running']);
  });

  it('PodStatusManager - once a write succeeds, the writes waiting to retry go at once', async () => {
    api.unreachable = true;
    manager.offer(update(1, 'Running'));
    await expect.poll(() => api.attempts.length).toBe(1);
    await clock.advance(200 + 400 + 800 + 1600 + 3200 + 6400);
    expect(api.attempts).toHaveLength(7); // web now waits 10 s
    api.unreachable = false;
    manager.offer(stamped(1, { uid: 'uid-2', name: 'db', ready: true, readyAt: T, startAt: T }));
    await settled(); // without the clock moving
    expect(api.patches.map((p) => p.name)).toEqual(['db', 'web']);
  });

  it('PodStatusManager - the reconcile repairs a status another writer changed while the producer keeps re-sending the one held', async () => {
    manager.offer(update(1, 'Running'));
    await settled();
    // The node lifecycle controller marked the pod not ready; pod-sync re-sends the same status every second.
    cached.set('uid-1', asApiHas({ ...api.patches[0]!.patch.status, conditions: [{ type: 'Ready', status: 'False', lastTransitionTime: '2025-11-28T12:30:00Z' }] }));
    for (let v = 2; v <= 11; v++) {
      await clock.advance(1_000);
      manager.offer(update(v, 'Running'));
      await settled();
    }
    expect(api.patches).toHaveLength(1);
    manager.reconcile();
    await settled();
    expect(api.patches).toHaveLength(2);
    expect(api.patches[1]!.patch.status).toMatchObject({ conditions: [{ type: 'Ready', status: 'True', lastTransitionTime: '2025-11-28T12:00:00Z' }] });
  });

  it('PodStatusManager - the reconcile compares with what the API server answered the write with, not what was sent (an IP a patch cannot remove)', async () => {
    // A finished pod's stopped sandbox reports no IP: the patch leaves podIP out and the API server keeps it.
    api.answer = (patch) => asApiHas({ ...patch.status, podIP: '172.17.0.5', podIPs: [{ ip: '172.17.0.5' }] });
    manager.offer(stamped(1, { ready: false, readyAt: T, startAt: T }));
    await settled();
    cached.set('uid-1', api.answer(api.patches[0]!.patch));
    await clock.advance(10_000);
    manager.reconcile();
    await settled();
    expect(api.patches).toHaveLength(1);
    // The same status again (pod-sync's next sync) is no write either.
    manager.offer(stamped(2, { ready: false, readyAt: T, startAt: T }));
    await settled();
    expect(api.patches).toHaveLength(1);
  });

  it('PodStatusManager - the reconcile waits for the pod cache to see the last write (its watch still cut after an outage) before comparing', async () => {
    const withRv = (rv: string, status: object): V1Pod => {
      const p = asApiHas(status);
      p.metadata!.resourceVersion = rv;
      return p;
    };
    // The cache shows the status from before the outage (resourceVersion 5) when the latest is written.
    cached.set('uid-1', withRv('5', { phase: 'Pending' }));
    manager.offer(update(1, 'Running'));
    await settled();
    await clock.advance(10_000);
    manager.reconcile();
    await settled();
    expect(api.patches).toHaveLength(1); // the cache is behind: nothing to conclude
    // The cache catches up: it shows the write, then another writer's change.
    cached.set('uid-1', withRv('6', api.patches[0]!.patch.status));
    manager.reconcile();
    await settled();
    expect(api.patches).toHaveLength(1);
    cached.set('uid-1', withRv('7', { ...api.patches[0]!.patch.status, phase: 'Unknown' }));
    manager.reconcile();
    await settled();
    expect(api.patches.map((p) => p.patch.status.phase)).toEqual(['Running', 'Running']);
  });
});
