import 'reflect-metadata';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { container as root } from 'tsyringe';
import { equals } from '@bufbuild/protobuf';
import type { V1Container, V1ContainerStatus, V1Pod } from '@kubernetes/client-node';
import { jetstream } from '@nats-io/jetstream';
import type { KV } from '@nats-io/kv';
import { containerEventsSubject, ensureStream, eventsStreamName, kvEntries, kvPut, openBucket, podsViewBucket, probeResultKey, probeResultsBucket, type ProbeKindName } from '@splitlet/bus';
import {
  ContainerEventSchema,
  ContainerEventType,
  create,
  PodProbeViewSchema,
  ProbeKind,
  ProbeResultSchema,
  ProbeResultValue,
  toBinary,
  type PodProbeView,
} from '@splitlet/contracts';
import { systemClock, TOKENS } from '@splitlet/service';
import { createLogger } from '@splitlet/telemetry';
import { randomMessageBytes, SeededRandom, useNatsServer, waitFor } from '@splitlet/testing';
import { PodSyncer } from './pod-syncer';
import { PodWatch, type Caches, type NodePodList } from './pod-watch';
import { PodWorkers } from './pod-workers';
import { ProbeState } from './probe-state';
import { podProbeView } from './probe-view';
import { SYNC } from './tokens';

// pod-sync's bus consumers on a real nats-server — the container events stream, the
// probe results bucket (through ProbeState) and the pods view bucket it writes — fed
// random bytes, random messages of their types and hostile ones that decode: results
// under another result's key, views of its pods put or deleted by someone else. No
// crash; a sync sees only results that are the prober's for that key (never a kill
// none asked for); what a running pod-sync believes is what a restarted one would read;
// the pods' views are pod-sync's again and strays gone; the genuine results and events
// that follow are acted on. Fixed seed; FUZZ_SEED and FUZZ_N run it otherwise.
const SEED = Number(process.env['FUZZ_SEED'] ?? 14);
const N = Number(process.env['FUZZ_N'] ?? 100);

const NODE = 'fuzz-node';
const logger = createLogger('pod-sync-fuzz', { level: 'silent' });
const KINDS: ProbeKindName[] = ['liveness', 'readiness', 'startup'];
const KIND_ENUM = { liveness: ProbeKind.LIVENESS, readiness: ProbeKind.READINESS, startup: ProbeKind.STARTUP } as const;

const app: V1Container = {
  name: 'app',
  image: 'x',
  livenessProbe: { tcpSocket: { port: 80 } },
  readinessProbe: { tcpSocket: { port: 80 } },
  startupProbe: { tcpSocket: { port: 80 } },
};
const pod = (uid: string): V1Pod => ({ metadata: { uid, name: uid, namespace: 'default' }, spec: { nodeName: NODE, containers: [app] } });
const PODS = [pod('web'), pod('db')];
const UIDS = PODS.map((p) => p.metadata!.uid!);
const CONTAINER_ID = (uid: string) => `c-${uid}`;
const running = (uid: string): V1ContainerStatus[] => [
  { name: 'app', image: 'x', imageID: '', ready: false, restartCount: 0, containerID: `docker://${CONTAINER_ID(uid)}`, state: { running: { startedAt: new Date(1_700_000_000_000) } } },
];
/** The view pod-sync computes for a pod (the version aside). */
const genuineView = (uid: string): PodProbeView => podProbeView(pod(uid), running(uid), '172.17.0.5', '10.0.0.1', BigInt(Date.now()) * 1000n)!;

interface SyncSeen {
  uid: string;
  statusOnly: boolean;
  started: boolean;
  ready: boolean;
  failed: string | undefined;
}

const KEY_CHARS = 'abcdefghijklmnopqrstuvwxyz0123456789-_.';
const randomKey = (r: SeededRandom) => {
  const k = r.pick([...UIDS, 'ghost', Array.from({ length: r.int(1, 20) }, () => r.pick([...KEY_CHARS])).join('')]);
  return k.replace(/^\.+|\.+$/g, '').replace(/\.\.+/g, '.') || 'k';
};
const realResultKey = (r: SeededRandom) => probeResultKey(r.pick(UIDS), 'app', r.pick(KINDS));

/** A result that decodes and names a real pod's probe, put under another probe's key (a readiness Failure as liveness...). */
function misfiledResult(r: SeededRandom): { key: string; bytes: Uint8Array } {
  const uid = r.pick(UIDS);
  const kind = r.pick(KINDS);
  const other = { podUid: uid, containerName: 'app', kind };
  switch (r.int(0, 2)) {
    case 0:
      other.kind = r.pick(KINDS.filter((k) => k !== kind));
      break;
    case 1:
      other.podUid = r.pick([...UIDS.filter((u) => u !== uid), 'ghost', '']);
      break;
    default:
      other.containerName = r.pick(['side', '', 'app.x']);
  }
  const value = create(ProbeResultSchema, { podUid: other.podUid, containerName: other.containerName, kind: KIND_ENUM[other.kind], containerId: CONTAINER_ID(uid), result: ProbeResultValue.FAILURE });
  return { key: probeResultKey(uid, 'app', kind), bytes: toBinary(ProbeResultSchema, value) };
}

describe('pod-sync - fuzz', () => {
  const nats = useNatsServer();
  let views: KV;
  let results: KV;
  let probes: ProbeState;
  const seen: SyncSeen[] = [];
  const abort = new AbortController();
  let watching: Promise<void>;
  let watchError: unknown;

  const putGenuineResults = async (result = ProbeResultValue.SUCCESS) => {
    for (const uid of UIDS)
      for (const kind of KINDS)
        await kvPut(results, probeResultKey(uid, 'app', kind), ProbeResultSchema, { podUid: uid, containerName: 'app', kind: KIND_ENUM[kind], containerId: CONTAINER_ID(uid), result });
  };

  /** What the running pod-sync believes of its pods' probes is what a restarted one reads from the bucket now. */
  let sentinel = 0;
  const sameAsRestarted = async (at: number) => {
    // Everything fed has been through the results watch once a result put after it has.
    const id = `c${++sentinel}`;
    await kvPut(results, probeResultKey('sentinel', 'app', 'liveness'), ProbeResultSchema, { podUid: 'sentinel', containerName: 'app', kind: ProbeKind.LIVENESS, containerId: id, result: ProbeResultValue.SUCCESS });
    await waitFor('the results watch to catch up', async () => (probes.result('sentinel', 'app', 'liveness', id) !== undefined ? true : undefined), 10_000, 20);
    const restarted = new ProbeState(nats.nc, NODE, logger);
    const restartAbort = new AbortController();
    await restarted.start(() => undefined, restartAbort.signal);
    restartAbort.abort();
    for (const uid of UIDS)
      for (const kind of KINDS) expect(probes.result(uid, 'app', kind, CONTAINER_ID(uid)), `after ${at} rounds, ${uid}'s ${kind} result, running vs restarted`).toBe(restarted.result(uid, 'app', kind, CONTAINER_ID(uid)));
  };

  beforeAll(async () => {
    const { nc } = nats;
    await ensureStream(nc, eventsStreamName(NODE), [containerEventsSubject(NODE)], 600_000);
    views = await openBucket(nc, podsViewBucket(NODE));
    results = await openBucket(nc, probeResultsBucket(NODE));
    probes = new ProbeState(nc, NODE, logger);
    // The smallest pod-sync around PodWatch: a fake informer of the two pods, a syncer
    // that only says what it would act on (readiness, a probe asking for a kill) and
    // publishes each pod's view through the real ProbeState, as PodSyncer.sync does.
    const informer: NodePodList = {
      start: async () => undefined,
      stop: () => undefined,
      list: () => PODS,
      hasSynced: true,
    };
    const caches: Caches = { start: async () => undefined, stop: () => undefined };
    const syncer = { podsWithSandboxes: async () => new Set(UIDS), cleanup: async () => undefined, recordedPods: () => [] } as unknown as PodSyncer;
    const workers = new PodWorkers(async (p, statusOnly) => {
      const uid = p.metadata!.uid!;
      seen.push({ uid, statusOnly, ...probes.readiness(uid, app, CONTAINER_ID(uid)), failed: probes.failedProbe(uid, app, CONTAINER_ID(uid)) });
      await probes.publish(uid, genuineView(uid));
    });
    const di = root.createChildContainer();
    di.registerInstance(SYNC.PodInformer, informer);
    di.registerInstance(SYNC.Caches, caches);
    di.registerInstance(SYNC.Workers, workers);
    di.registerInstance(PodSyncer, syncer);
    di.registerInstance(SYNC.ResyncMs, 100); // housekeeping every 100 ms
    di.registerInstance(SYNC.Probes, probes);
    di.registerInstance(SYNC.Shards, { ownsUid: () => true });
    di.registerInstance(TOKENS.Nats, nc);
    di.registerInstance(TOKENS.NodeName, NODE);
    di.registerInstance(TOKENS.Clock, systemClock);
    di.registerInstance(TOKENS.Logger, logger);
    watching = di
      .resolve(PodWatch)
      .run(abort.signal)
      .catch((err: unknown) => void (watchError = err));
    await putGenuineResults();
    await waitFor('both pods synced ready', async () => (UIDS.every((uid) => seen.some((s) => s.uid === uid && s.ready)) ? true : undefined), 10_000, 20);
  });
  afterAll(async () => {
    abort.abort();
    await watching;
  });

  it(`events stream, probe results and pods view - ${N} rounds of up to 9 hostile messages and entries (seed ${SEED}): no crash, no kill none asked for, the same beliefs as after a restart, the views pod-sync's again, genuine results and events acted on`, async () => {
    const r = new SeededRandom(SEED);
    const js = jetstream(nats.nc);
    const events = containerEventsSubject(NODE);
    const t0 = Date.now();
    for (let i = 0; i < N; i++) {
      await js.publish(events, r.bytes(r.int(0, 256)));
      await js.publish(events, randomMessageBytes(r, ContainerEventSchema));
      await js.publish(events, toBinary(ContainerEventSchema, create(ContainerEventSchema, { type: ContainerEventType.STOPPED, podUid: r.pick([...UIDS, 'ghost', '']), containerId: r.pick(['', '/', CONTAINER_ID('web')]), containerName: r.pick(['app', 'POD', '']) })));
      // The prober's own results come in between (all successes here: no kill is asked for).
      if (r.next() < 0.3) {
        const [uid, kind] = [r.pick(UIDS), r.pick(KINDS)];
        await kvPut(results, probeResultKey(uid, 'app', kind), ProbeResultSchema, { podUid: uid, containerName: 'app', kind: KIND_ENUM[kind], containerId: CONTAINER_ID(uid), result: ProbeResultValue.SUCCESS });
      }
      await results.put(r.next() < 0.5 ? randomKey(r) : realResultKey(r), r.bytes(r.int(0, 128)));
      await results.put(randomKey(r), randomMessageBytes(r, ProbeResultSchema));
      const misfiled = misfiledResult(r);
      await results.put(misfiled.key, misfiled.bytes);
      await views.put(randomKey(r), r.bytes(r.int(0, 256)));
      await views.put(r.pick([...UIDS, randomKey(r)]), randomMessageBytes(r, PodProbeViewSchema));
      if (r.next() < 0.2) await views.delete(r.pick(UIDS));
      if ((i + 1) % Math.max(1, Math.floor(N / 5)) === 0 && i + 1 < N) await sameAsRestarted(i + 1);
    }
    const fedS = (Date.now() - t0) / 1000;

    await sameAsRestarted(N);

    // No result was the prober's Failure: nothing may have asked for a kill.
    const kills = seen.filter((s) => s.failed);
    expect(kills.map((s) => `${s.uid}: ${s.failed}`), 'syncs that would kill a container').toEqual([]);
    expect(new Set(seen.map((s) => s.uid)), 'pods synced').toEqual(new Set(UIDS));

    // The pods' views are pod-sync's again, and only its pods have one.
    const genuine = (v: PodProbeView | undefined, uid: string) => v !== undefined && equals(PodProbeViewSchema, v, { ...genuineView(uid), version: v.version });
    await waitFor(
      "the pods view to be pod-sync's",
      async () => {
        const now = await kvEntries(views, PodProbeViewSchema);
        const keys: string[] = [];
        for await (const k of await views.keys()) keys.push(k);
        return keys.sort().join() === [...UIDS].sort().join() && UIDS.every((uid) => genuine(now.get(uid), uid)) ? true : undefined;
      },
      10_000,
      50,
    ).catch(async (err: unknown) => {
      const now = await kvEntries(views, PodProbeViewSchema);
      const keys: string[] = [];
      for await (const k of await views.keys()) keys.push(k);
      throw new Error(`${(err as Error).message}: keys ${keys.slice(0, 10).join(' ')}; genuine: ${UIDS.map((uid) => `${uid} ${genuine(now.get(uid), uid)}`).join(', ')}`);
    });

    // The prober's next results and the executor's next event are acted on.
    const before = seen.length;
    await putGenuineResults();
    await waitFor('both pods synced ready again', async () => (UIDS.every((uid) => seen.slice(before).some((s) => s.uid === uid && s.ready && s.started && !s.failed)) ? true : undefined), 10_000, 20).catch((err: unknown) => {
      throw new Error(`${(err as Error).message}: ${JSON.stringify(seen.slice(before))} ${UIDS.map((uid) => KINDS.map((k) => `${uid}.${k}=${probes.result(uid, 'app', k, CONTAINER_ID(uid))}`).join(' '))}`);
    });
    const beforeEvent = seen.length;
    await js.publish(events, toBinary(ContainerEventSchema, create(ContainerEventSchema, { type: ContainerEventType.STOPPED, podUid: 'db', containerId: CONTAINER_ID('db'), containerName: 'app' })));
    await waitFor("db synced after its container's event", async () => (seen.slice(beforeEvent).some((s) => s.uid === 'db' && !s.statusOnly) ? true : undefined), 10_000, 20);
    expect(watchError).toBeUndefined();
    console.info(`pod-sync fuzz: seed ${SEED}, ${N} rounds (up to ${9 * N} hostile messages and entries) fed in ${fedS.toFixed(1)} s, ${seen.length} syncs`);
  }, 120_000);
});
