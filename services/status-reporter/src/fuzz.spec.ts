import 'reflect-metadata';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { create, fromBinary, toBinary } from '@bufbuild/protobuf';
import type { V1Pod } from '@kubernetes/client-node';
import { ensureKubeEventsStream, ensureStatusStream, isPodUidToken, kubeEventsSubject, podStatusSubject, shardEventsSubject, STATUS_SHARDS } from '@splitlet/bus';
import { KubeEventSchema, ObjectReferenceSchema, statusv1 } from '@splitlet/contracts';
import { TOKENS } from '@splitlet/service';
import { FakeClock, randomMessageBytes, SeededRandom, startServiceHarness, type ServiceHarness } from '@splitlet/testing';
import { FakePodApi } from './__fixtures__/fake-pod-api';
import { EventWriter } from './event-writer';
import { PodStatusManager } from './pod-status-manager';
import { SR } from './tokens';

// status-reporter's two subjects on a real nats-server, fed random bytes, random
// PodStatusUpdates and KubeEvents (fields often hostile values), and random updates
// aimed at the node's own pods (their identity, mixed up; versions near now or far
// ahead; terminated; terminal phases): nothing may reach the API server that the
// checks of docs/architecture.md ("status-reporter") refuse, and the service must
// write the producer's next genuine status and Event afterwards. Fixed seed;
// FUZZ_SEED and FUZZ_N (messages of each sort) run it otherwise (bench/ runs it longer).
const SEED = Number(process.env['FUZZ_SEED'] ?? 14);
const N = Number(process.env['FUZZ_N'] ?? 300);

const START = Date.UTC(2026, 0, 1);
const NODE = 'test-node';

type Phase = 'Running' | 'Succeeded' | 'Failed';
const apiPod = (uid: string, name: string, o: { deleting?: boolean; restartPolicy?: string; app?: 'running' | 'exited'; phase?: Phase } = {}): V1Pod => ({
  metadata: { uid, name, namespace: 'default', resourceVersion: '1', ...(o.deleting ? { deletionTimestamp: new Date(START) } : {}) },
  spec: { nodeName: NODE, restartPolicy: o.restartPolicy ?? 'Always', containers: [{ name: 'app' }, { name: 'side' }] },
  status: {
    phase: o.phase ?? 'Running',
    containerStatuses: ['app', 'side'].map((name) => ({
      name,
      ready: o.app !== 'exited',
      restartCount: 0,
      image: 'splitlet-lab/testbox:1',
      imageID: '',
      state: o.app === 'exited' ? { terminated: { exitCode: 0, reason: 'Completed' } } : { running: { startedAt: new Date(START) } },
    })),
  },
});

/** The node's pods as the API server (the pod cache) has them. */
const PODS: V1Pod[] = [
  apiPod('uid-web', 'web'),
  // Its containers exited 0 under restartPolicy Never: they may never be shown running again.
  apiPod('uid-job', 'job', { restartPolicy: 'Never', app: 'exited' }),
  apiPod('uid-del', 'del', { deleting: true }),
  apiPod('uid-done', 'done', { restartPolicy: 'OnFailure', app: 'exited', phase: 'Succeeded' }),
];
const IDENTITIES = [...PODS.map((p) => ({ uid: p.metadata!.uid!, name: p.metadata!.name!, namespace: 'default' })), { uid: 'uid-ghost', name: 'ghost', namespace: 'default' }];

/** A random update aimed at one of the node's pods (or a ghost): identity parts mixed, a version near now or far off. */
function aimedUpdate(r: SeededRandom, nowMs: number): Uint8Array {
  const u = fromBinary(statusv1.PodStatusUpdateSchema, randomMessageBytes(r, statusv1.PodStatusUpdateSchema));
  const who = r.pick(IDENTITIES);
  u.podUid = who.uid;
  u.name = r.next() < 0.85 ? who.name : r.pick(IDENTITIES).name;
  u.namespace = r.next() < 0.9 ? who.namespace : 'kube-system';
  const nowUs = BigInt(nowMs) * 1000n;
  u.version = r.next() < 0.8 ? nowUs + BigInt(r.int(-2_000_000, 90_000_000)) : u.version;
  u.status ??= create(statusv1.PodStatusSchema, {});
  if (r.next() < 0.5) u.status.phase = r.pick(['Running', 'Succeeded', 'Failed', 'Pending', '']);
  if (r.next() < 0.5) for (const c of u.status.containerStatuses) c.name = r.pick(['app', 'side', c.name]);
  return toBinary(statusv1.PodStatusUpdateSchema, u);
}

/** A random event about one of the node's pods, a ghost, this Node or another: identity parts mixed. */
function aimedEvent(r: SeededRandom): Uint8Array {
  const e = fromBinary(KubeEventSchema, randomMessageBytes(r, KubeEventSchema));
  const o = (e.involvedObject ??= create(ObjectReferenceSchema, {}));
  if (r.next() < 0.2) {
    Object.assign(o, { kind: 'Node', name: r.next() < 0.7 ? NODE : 'other-node', namespace: r.next() < 0.8 ? '' : 'default', uid: r.pick(['', NODE, 'uid-web']) });
  } else {
    const who = r.pick(IDENTITIES);
    Object.assign(o, { kind: r.next() < 0.9 ? 'Pod' : r.pick(['Node', 'Secret', o.kind]), uid: r.next() < 0.9 ? who.uid : r.pick(['', 'uid-other-node']) });
    o.name = r.next() < 0.85 ? who.name : r.pick(IDENTITIES).name;
    o.namespace = r.next() < 0.9 ? who.namespace : 'kube-system';
  }
  o.apiVersion = r.next() < 0.9 ? r.pick(['', 'v1']) : o.apiVersion;
  e.reason ||= 'Fuzzed';
  return toBinary(KubeEventSchema, e);
}

/** The node heartbeats (its Ready condition is not Unknown). */
const heartbeat = { beating: () => true };

describe('status-reporter - fuzz', () => {
  let h: ServiceHarness;
  let api: FakePodApi;
  let clock: FakeClock;
  let manager: PodStatusManager;
  let events: EventWriter;
  const abort = new AbortController();
  let running: Promise<unknown>;
  const cached = new Map<string, V1Pod>();

  beforeAll(async () => {
    h = await startServiceHarness('status-reporter', NODE);
    api = new FakePodApi();
    // As the API server: a status patch answers the pod with the status patched in.
    api.answer = (patch) => ({ status: patch.status as V1Pod['status'] });
    clock = new FakeClock(START);
    for (const p of PODS) cached.set(p.metadata!.uid!, structuredClone(p));
    h.container.registerInstance(SR.PodApi, api);
    h.container.registerInstance(TOKENS.Clock, clock);
    h.container.registerInstance(SR.PodCache, {
      byUid: (uid: string) => cached.get(uid),
      byName: (ns: string, name: string) => [...cached.values()].find((p) => p.metadata!.namespace === ns && p.metadata!.name === name),
    });
    h.container.registerInstance(SR.ReconcileMs, 10_000);
    h.container.registerInstance(SR.NodeHeartbeat, heartbeat);
    manager = h.container.resolve(PodStatusManager);
    events = h.container.resolve(EventWriter);
    await Promise.all([ensureStatusStream(h.peer, NODE), ensureKubeEventsStream(h.peer, NODE)]);
    running = Promise.all([manager.run(abort.signal), events.run(abort.signal)]);
    await manager.live;
  });
  afterAll(async () => {
    abort.abort();
    await running;
    await h.close();
  });

  /** Lets the published messages arrive and every write that can go, go. */
  const settle = async (ms = 0) => {
    await h.peer.flush();
    await h.nc.flush();
    await clock.advance(ms);
  };

  it(`pod statuses - ${3 * N} random updates (seed ${SEED}): no PATCH or DELETE the checks refuse; the next genuine status is written`, async () => {
    const r = new SeededRandom(SEED);
    // Each pod's subject, or one of no pod.
    const subjectOf = (payload: Uint8Array): string => {
      let uid = '';
      try {
        uid = fromBinary(statusv1.PodStatusUpdateSchema, payload).podUid;
      } catch {
        // garbage
      }
      return podStatusSubject(NODE, isPodUidToken(uid) && r.next() < 0.9 ? uid : r.pick(['junk', ...IDENTITIES.map((x) => x.uid)]));
    };
    const subject = podStatusSubject(NODE, 'uid-web');
    for (let i = 0; i < N; i++) {
      for (const payload of [r.bytes(r.int(0, 512)), randomMessageBytes(r, statusv1.PodStatusUpdateSchema), aimedUpdate(r, clock.now())]) h.peer.publish(subjectOf(payload), payload);
      if (i % 10 === 9) await settle(r.int(0, 3_000));
    }
    // Past the longest wait for the pod cache (5 minutes): every waiting update is written or refused.
    for (let i = 0; i < 40; i++) await settle(10_000);
    await expect.poll(() => manager.idle, { timeout: 5000 }).toBe(true);

    const byName = new Map(PODS.map((p) => [p.metadata!.name!, p]));
    const terminal = (phase?: string) => phase === 'Succeeded' || phase === 'Failed';
    const lastPhase = new Map(PODS.map((p) => [p.metadata!.uid!, p.status!.phase]));
    for (const { ns, name, patch } of api.patches) {
      // Only a pod of this node, under its own name, namespace and UID (the patch's precondition).
      const pod = byName.get(name);
      expect(pod, `a PATCH of ${ns}/${name}`).toBeDefined();
      expect([ns, patch.metadata.uid]).toEqual(['default', pod!.metadata!.uid]);
      const uid = pod!.metadata!.uid!;
      const status = patch.status as NonNullable<V1Pod['status']>;
      const shown = status.containerStatuses ?? [];
      // A terminal phase only once no container runs and every container of the spec is accounted for (mergePodStatus).
      if (terminal(status.phase) && !terminal(lastPhase.get(uid))) {
        expect(shown.some((c) => c.state?.running), `${name} made ${status.phase} with a container running`).toBe(false);
        expect(pod!.spec!.containers.every((c) => shown.some((s) => s.name === c.name)), `${name} made ${status.phase} with a container unaccounted for`).toBe(true);
      }
      lastPhase.set(uid, status.phase);
      // A container that exited 0 under restartPolicy Never never runs (or waits) again.
      if (uid === 'uid-job') expect(shown.filter((c) => ['app', 'side'].includes(c.name) && (c.state?.running || c.state?.waiting)), 'job\'s containers shown running again').toEqual([]);
    }
    // Deletion completed only for the pod the API server is deleting.
    expect(api.deletes.every((d) => d.uid === 'uid-del' && d.name === 'del')).toBe(true);
    expect(api.patches.length).toBeGreaterThan(0);
    const refused = Object.values(manager.rejected).reduce((a, b) => a + b, 0);
    expect(refused).toBeGreaterThan(0);

    // The producer's next genuine status for a pod (the one not deleted) is written, whatever version a forged one claimed.
    const before = api.patches.length;
    const genuine = create(statusv1.PodStatusUpdateSchema, {
      podUid: 'uid-web',
      name: 'web',
      namespace: 'default',
      version: BigInt(clock.now()) * 1000n,
      status: { phase: 'Running', podIp: '172.17.0.99', containerStatuses: ['app', 'side'].map((name) => ({ name, ready: true, state: { state: { case: 'running' as const, value: { startedAt: BigInt(START) * 1_000_000n } } } })) },
    });
    h.peer.publish(subject, toBinary(statusv1.PodStatusUpdateSchema, genuine));
    await settle();
    await expect.poll(() => api.patches.slice(before).some((p) => p.name === 'web' && (p.patch.status as { podIP?: string }).podIP === '172.17.0.99'), { timeout: 5000 }).toBe(true);
  });

  it(`Events - ${3 * N} random events (seed ${SEED}): each one written is the kubelet's, about the Node or a pod of this node it names; the next genuine Event is written`, async () => {
    const r = new SeededRandom(SEED + 1);
    for (let i = 0; i < N; i++) {
      for (const payload of [r.bytes(r.int(0, 512)), randomMessageBytes(r, KubeEventSchema), aimedEvent(r)]) h.peer.publish(shardEventsSubject(NODE, r.int(0, STATUS_SHARDS - 1)), payload);
      if (i % 10 === 9) await settle(r.int(0, 3_000));
    }
    // Past the longest wait for the pod cache: every waiting event is written or refused.
    for (let i = 0; i < 35; i++) await settle(10_000);
    await clock.settle(200);
    const pods = new Map(PODS.map((p) => [p.metadata!.name!, p]));
    for (const e of api.events) {
      expect(e.source).toEqual({ component: 'kubelet', host: NODE });
      expect(e.metadata.name?.startsWith(`${e.involvedObject.name}.`)).toBe(true);
      expect(e.firstTimestamp).toBeDefined();
      expect(['', 'v1']).toContain(e.involvedObject.apiVersion);
      const o = e.involvedObject;
      if (o.kind === 'Node') {
        // The Node: this node's, of no namespace (its Events are in "default"), its UID none or its name.
        expect([o.name, o.namespace, e.metadata.namespace], `an Event about Node ${o.name}`).toEqual([NODE, undefined, 'default']);
        expect(['', NODE]).toContain(o.uid);
      } else {
        // A pod of this node, under its own namespace, name and UID.
        expect(o.kind, `an Event about a ${o.kind}`).toBe('Pod');
        const pod = pods.get(o.name!);
        expect(pod, `an Event about ${o.namespace}/${o.name}`).toBeDefined();
        expect([o.namespace, e.metadata.namespace]).toEqual(['default', 'default']);
        if (o.uid) expect(o.uid).toBe(pod!.metadata!.uid);
      }
    }
    expect(events.writes.refused).toBeGreaterThan(0);
    // Some aimed at the node's own objects got through.
    expect(api.events.length).toBeGreaterThan(0);
    const genuine = create(KubeEventSchema, { involvedObject: { kind: 'Pod', namespace: 'default', name: 'web', uid: 'uid-web' }, type: 'Normal', reason: 'Started', message: 'Started container app' });
    h.peer.publish(kubeEventsSubject(NODE, 'uid-web'), toBinary(KubeEventSchema, genuine));
    await settle();
    await expect.poll(() => api.events.some((e) => e.involvedObject.name === 'web' && e.reason === 'Started'), { timeout: 5000 }).toBe(true);
  });
});
