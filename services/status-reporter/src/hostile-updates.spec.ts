import 'reflect-metadata';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { create, toBinary } from '@bufbuild/protobuf';
import type { V1Pod } from '@kubernetes/client-node';
import { ensureStatusStream, podStatusSubject } from '@splitlet/bus';
import { statusv1 } from '@splitlet/contracts';
import { TOKENS } from '@splitlet/service';
import { FakeClock, startServiceHarness, type ServiceHarness } from '@splitlet/testing';
import { FakePodApi } from './__fixtures__/fake-pod-api';
import { PodStatusManager } from './pod-status-manager';
import { SR } from './tokens';

// The forged PodStatusUpdates of issue 14, as anything that may publish on the node's
// status subject could send them, and what the API server then holds.

const START = Date.UTC(2026, 0, 1);
/** pod-sync's version for a status computed at `ms`: its clock in µs. */
const versionAt = (ms: number) => BigInt(ms) * 1000n;

type ContainerState = 'running' | 'exited';
const containerStatus = (name: string, state: ContainerState) =>
  ({
    name,
    ready: state === 'running',
    image: 'splitlet-lab/testbox:1',
    state:
      state === 'running'
        ? { state: { case: 'running' as const, value: { startedAt: versionAt(START) * 1000n } } }
        : { state: { case: 'terminated' as const, value: { exitCode: 1, reason: 'Error', startedAt: versionAt(START) * 1000n, finishedAt: versionAt(START + 1000) * 1000n } } },
  }) as const;

interface UpdateInit {
  uid?: string;
  name?: string;
  version: bigint;
  phase: string;
  containers?: ContainerState[];
  terminated?: boolean;
}
const update = (u: UpdateInit) =>
  create(statusv1.PodStatusUpdateSchema, {
    podUid: u.uid ?? 'uid-web',
    namespace: 'default',
    name: u.name ?? 'web',
    version: u.version,
    terminated: u.terminated ?? false,
    // An IP the pod cache's copy does not show yet: a status to write, not one already in place.
    status: { phase: u.phase, podIp: '172.17.0.9', containerStatuses: (u.containers ?? ['running']).map((s, i) => containerStatus(i ? `side${i}` : 'app', s)) },
  });

/** A pod bound to the node as the pod cache has it: Running, its app container running. */
const runningPod = (uid: string, name: string, deleting = false): V1Pod => ({
  metadata: { uid, name, namespace: 'default', ...(deleting ? { deletionTimestamp: new Date(START) } : {}) },
  spec: { nodeName: 'test-node', containers: [{ name: 'app' }] },
  status: { phase: 'Running', containerStatuses: [{ name: 'app', ready: true, restartCount: 0, image: 'splitlet-lab/testbox:1', imageID: '', state: { running: { startedAt: new Date(START) } } }] },
});

/** The node heartbeats (its Ready condition is not Unknown). */
const heartbeat = { beating: () => true };

describe('status-reporter - forged pod status updates', () => {
  let h: ServiceHarness;
  let api: FakePodApi;
  let clock: FakeClock;
  let manager: PodStatusManager;
  const cached = new Map<string, V1Pod>();

  beforeEach(async () => {
    h = await startServiceHarness('status-reporter');
    api = new FakePodApi();
    clock = new FakeClock(START);
    cached.clear();
    cached.set('uid-web', runningPod('uid-web', 'web'));
    h.container.registerInstance(SR.PodApi, api);
    h.container.registerInstance(TOKENS.Clock, clock);
    h.container.registerInstance(SR.PodCache, { byUid: (uid: string) => cached.get(uid) });
    h.container.registerInstance(SR.ReconcileMs, 10_000);
    h.container.registerInstance(SR.NodeHeartbeat, heartbeat);
    manager = h.container.resolve(PodStatusManager);
  });
  afterEach(() => h.close());

  const settled = () => expect.poll(() => manager.idle, { timeout: 2000 }).toBe(true);
  const phases = () => api.patches.map((p) => p.patch.status.phase);

  it('PodStatusManager - terminated for a pod the API server is not deleting is never obeyed: no delete, no write; refused once the pod cache had time to show a deletion', async () => {
    expect(manager.offer(update({ version: versionAt(START), phase: 'Succeeded', containers: ['exited'], terminated: true }))).toBeUndefined();
    await expect.poll(() => clock.pending).toBe(1); // waits for the pod cache to show a deletion
    await clock.advance(299_000);
    expect(manager.rejected['terminated-not-deleting']).toBe(0);
    await clock.advance(11_000);
    await settled();
    expect(api.deletes).toEqual([]);
    expect(api.patches).toEqual([]);
    expect(manager.rejected['terminated-not-deleting']).toBe(1);
    manager.offer(update({ version: versionAt(clock.now()), phase: 'Running' }));
    await settled();
    expect(phases()).toEqual(['Running']);
  });

  it('PodStatusManager - a forged terminated waiting for a deletion is replaced by the producer\'s next status', async () => {
    manager.offer(update({ version: versionAt(START), phase: 'Succeeded', containers: ['exited'], terminated: true }));
    await expect.poll(() => clock.pending).toBe(1);
    manager.offer(update({ version: versionAt(START) + 1n, phase: 'Running' }));
    await clock.advance(200);
    await settled();
    expect(phases()).toEqual(['Running']);
    expect(api.deletes).toEqual([]);
  });

  it('PodStatusManager - terminated that comes before the pod cache shows the deletion completes it once the cache does', async () => {
    manager.offer(update({ version: versionAt(START), phase: 'Succeeded', containers: ['exited'], terminated: true }));
    await expect.poll(() => clock.pending).toBe(1);
    cached.set('uid-web', runningPod('uid-web', 'web', true));
    await clock.advance(200);
    await settled();
    expect(api.deletes).toEqual([{ ns: 'default', name: 'web', uid: 'uid-web' }]);
  });

  it('PodStatusManager - terminated for a pod being deleted completes the deletion', async () => {
    cached.set('uid-web', runningPod('uid-web', 'web', true));
    expect(manager.offer(update({ version: versionAt(START), phase: 'Failed', containers: ['exited'], terminated: true }))).toBeUndefined();
    await settled();
    expect(api.deletes).toEqual([{ ns: 'default', name: 'web', uid: 'uid-web' }]);
  });

  it('PodStatusManager - a terminated update that came before the pod cache showed its pod is checked again before anything is deleted', async () => {
    cached.delete('uid-web');
    manager.offer(update({ version: versionAt(START), phase: 'Succeeded', containers: ['exited'], terminated: true }));
    await expect.poll(() => clock.pending).toBe(1); // waits for the pod cache
    cached.set('uid-web', runningPod('uid-web', 'web'));
    await clock.advance(310_000);
    await settled();
    expect(api.deletes).toEqual([]);
    expect(api.patches).toEqual([]);
    expect(manager.rejected['terminated-not-deleting']).toBe(1);
  });

  it('PodStatusManager - Failed while the update shows a container running keeps the pod\'s phase (the kubelet\'s mergePodStatus)', async () => {
    manager.offer(update({ version: versionAt(START), phase: 'Failed', containers: ['running'] }));
    await settled();
    expect(phases()).toEqual(['Running']);
    expect(manager.terminalPhasesHeld).toBe(1);
  });

  it('PodStatusManager - Failed without a status for every container of the pod keeps the pod\'s phase', async () => {
    const forged = update({ version: versionAt(START), phase: 'Failed', containers: [] });
    forged.status!.reason = 'Evicted';
    manager.offer(forged);
    await settled();
    // Not Evicted: the reason the pod had (none), which the patch says by deleting it.
    expect(api.patches[0]?.patch.status).toMatchObject({ phase: 'Running', reason: null });
  });

  it('PodStatusManager - a pod refused at admission (rejected, no container ever shown) is written Failed with its reason, as the kubelet\'s rejectPod', async () => {
    cached.set('uid-web', { metadata: { uid: 'uid-web', name: 'web', namespace: 'default' }, spec: { nodeName: 'test-node', containers: [{ name: 'app' }] }, status: { phase: 'Pending' } });
    const rejected = update({ version: versionAt(START), phase: 'Failed', containers: [] });
    rejected.rejected = true;
    rejected.status!.reason = 'SysctlForbidden';
    manager.offer(rejected);
    await settled();
    expect(api.patches[0]?.patch.status).toMatchObject({ phase: 'Failed', reason: 'SysctlForbidden' });
    expect(manager.terminalPhasesHeld).toBe(0);
  });

  it('PodStatusManager - "rejected" for a pod whose containers were shown keeps the pod\'s phase', async () => {
    const forged = update({ version: versionAt(START), phase: 'Failed', containers: [] });
    forged.rejected = true;
    manager.offer(forged);
    await settled();
    expect(api.patches[0]?.patch.status).toMatchObject({ phase: 'Running' });
    expect(manager.terminalPhasesHeld).toBe(1);
  });

  it('PodStatusManager - Failed once every container has exited is written, and stays', async () => {
    manager.offer(update({ version: versionAt(START), phase: 'Failed', containers: ['exited'] }));
    await settled();
    expect(phases()).toEqual(['Failed']);
    expect(manager.terminalPhasesHeld).toBe(0);
  });

  it('PodStatusManager - a container of a restartPolicy Never pod shown running again after it exited is refused, as the kubelet aborts it', async () => {
    const never = runningPod('uid-web', 'web');
    never.spec!.restartPolicy = 'Never';
    cached.set('uid-web', never);
    manager.offer(update({ version: versionAt(START), phase: 'Failed', containers: ['exited'] }));
    await settled();
    manager.offer(update({ version: versionAt(START) + 1n, phase: 'Running', containers: ['running'] }));
    await settled();
    expect(phases()).toEqual(['Failed']);
    expect(manager.rejected['illegal-container-transition']).toBe(1);
    // Under restartPolicy Always the same restart is a restart.
    never.spec!.restartPolicy = 'Always';
    manager.offer(update({ version: versionAt(START) + 2n, phase: 'Running', containers: ['running'] }));
    await settled();
    expect(phases()).toEqual(['Failed', 'Running']);
  });

  it('PodStatusManager - an update that leaves the containers out does not make the next one forget them: "rejected" Failed is then held (found by the fuzz test)', async () => {
    manager.offer(update({ version: versionAt(START), phase: 'Running', containers: [] }));
    await settled();
    const forged = update({ version: versionAt(START) + 1n, phase: 'Failed', containers: [] });
    forged.rejected = true;
    manager.offer(forged);
    await settled();
    // Held: the same status as the one written, so nothing more is written.
    expect(phases()).toEqual(['Running']);
    expect(manager.terminalPhasesHeld).toBe(1);
  });

  it('PodStatusManager - under restartPolicy Never, a container that exited is not shown running again after an update that left it out', async () => {
    const never = runningPod('uid-web', 'web');
    never.spec!.restartPolicy = 'Never';
    cached.set('uid-web', never);
    manager.offer(update({ version: versionAt(START), phase: 'Failed', containers: ['exited'] }));
    await settled();
    manager.offer(update({ version: versionAt(START) + 1n, phase: 'Failed', containers: [] }));
    await settled();
    manager.offer(update({ version: versionAt(START) + 2n, phase: 'Running', containers: ['running'] }));
    await settled();
    expect(phases()).toEqual(['Failed', 'Failed']);
    expect(manager.rejected['illegal-container-transition']).toBe(1);
  });

  it('PodStatusManager - a version of 2^64 - 1 is refused and does not hold the next status off', async () => {
    expect(manager.offer(update({ version: 2n ** 64n - 1n, phase: 'Failed', containers: ['exited'] }))).toBe('version-ahead');
    manager.offer(update({ version: versionAt(START), phase: 'Running' }));
    await settled();
    expect(phases()).toEqual(['Running']);
    expect(manager.rejected['version-ahead']).toBe(1);
  });

  it('PodStatusManager - a version just within the bound (a minute ahead) is newest for at most a minute', async () => {
    expect(manager.offer(update({ version: versionAt(START + 60_000), phase: 'Pending' }))).toBeUndefined();
    await settled();
    manager.offer(update({ version: versionAt(START + 30_000), phase: 'Running' })); // older than the forged one: dropped
    await settled();
    expect(phases()).toEqual(['Pending']);
    await clock.advance(60_001);
    manager.offer(update({ version: versionAt(clock.now()), phase: 'Running' }));
    await settled();
    expect(phases()).toEqual(['Pending', 'Running']);
  });

  it('PodStatusManager - an update for a pod not bound to this node is never written, and refused once the pod cache had time to show it', async () => {
    expect(manager.offer(update({ uid: 'uid-elsewhere', name: 'other', version: versionAt(START), phase: 'Running' }))).toBeUndefined();
    await expect.poll(() => clock.pending).toBe(1); // waits for the pod cache
    await clock.advance(299_000);
    expect(manager.rejected['not-bound']).toBe(0);
    await clock.advance(11_000);
    await settled();
    expect(api.attempts).toEqual([]);
    expect(manager.rejected['not-bound']).toBe(1);
  });

  it('PodStatusManager - a pod\'s first status that comes before the pod cache shows the pod is written once it does', async () => {
    cached.delete('uid-web');
    manager.offer(update({ version: versionAt(START), phase: 'Running' }));
    await clock.advance(1_000);
    expect(api.attempts).toEqual([]);
    cached.set('uid-web', runningPod('uid-web', 'web'));
    await clock.advance(1_600);
    await settled();
    expect(phases()).toEqual(['Running']);
  });

  it('PodStatusManager - a flood of unknown pods\' updates holds at most 128 waiting; the rest are refused at once', async () => {
    const answers = Array.from({ length: 300 }, (_, i) => manager.offer(update({ uid: `forged-${i}`, name: `f${i}`, version: versionAt(START), phase: 'Running' })));
    await clock.settle();
    expect(answers.filter((a) => a === 'not-bound').length).toBe(300 - 128);
    // The node's own pod is still written meanwhile.
    manager.offer(update({ version: versionAt(START), phase: 'Running' }));
    await expect.poll(() => api.patches.length, { timeout: 2000 }).toBe(1);
  });

  it('PodStatusManager - a UID of the node\'s pod under another name is refused and does not make that pod "gone"', async () => {
    expect(manager.offer(update({ name: 'not-web', version: versionAt(START), phase: 'Failed', containers: ['exited'] }))).toBe('identity-mismatch');
    manager.offer(update({ version: versionAt(START) + 1n, phase: 'Running' }));
    await settled();
    expect(api.patches.map((p) => [p.name, p.patch.status.phase])).toEqual([['web', 'Running']]);
  });

  it('PodStatusManager - an update without a pod identity or status is refused', async () => {
    expect(manager.offer(create(statusv1.PodStatusUpdateSchema, { podUid: 'uid-web', version: 1n }))).toBe('no-identity');
    expect(manager.rejected['no-identity']).toBe(1);
  });

  it('PodStatusManager - forged updates on the bus change nothing and the producer\'s next status is written', async () => {
    const abort = new AbortController();
    await ensureStatusStream(h.peer, h.nodeName);
    const running = manager.run(abort.signal);
    await manager.live;
    const subject = podStatusSubject(h.nodeName, 'uid-web');
    // Each read before the next replaces it in the stream (a pod's latest status only is kept).
    const forged: [statusv1.PodStatusUpdate, () => boolean][] = [
      [update({ version: 2n ** 64n - 1n, phase: 'Failed', containers: ['exited'] }), () => manager.rejected['version-ahead'] === 1],
      [update({ name: 'someone-else', version: versionAt(START), phase: 'Failed', containers: ['exited'] }), () => manager.rejected['identity-mismatch'] === 1],
      // Under another pod's subject: it would take that pod's place in the stream.
      [{ ...update({ version: versionAt(START) + 1n, phase: 'Failed', containers: ['exited'] }), podUid: 'uid-web' }, () => true],
      [update({ version: versionAt(START) + 2n, phase: 'Succeeded', containers: ['exited'], terminated: true }), () => true],
    ];
    for (const [i, [u, refused]] of forged.entries()) {
      h.peer.publish(i === 2 ? podStatusSubject(h.nodeName, 'uid-other') : subject, toBinary(statusv1.PodStatusUpdateSchema, u));
      await expect.poll(refused, { timeout: 2000 }).toBe(true);
    }
    await expect.poll(() => manager.rejected['no-identity'], { timeout: 2000 }).toBe(1);
    h.peer.publish(subject, toBinary(statusv1.PodStatusUpdateSchema, update({ version: versionAt(START) + 5n, phase: 'Running' })));
    await expect.poll(() => api.patches.length, { timeout: 2000 }).toBe(1);
    await settled();
    expect(phases()).toEqual(['Running']);
    expect(api.deletes).toEqual([]);
    abort.abort();
    await running;
  });
});
