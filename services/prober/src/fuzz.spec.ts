import type { V1Pod, V1Probe } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { KV } from '@nats-io/kv';
import { kvPut, openBucket, podsViewBucket, probeResultsBucket, proberReplicasBucket } from '@splitlet/bus';
import { create, fromBinary, PodProbeViewSchema, ReplicaHeartbeatSchema, ProbeSchema, toBinary, type PodProbeView, type Probe } from '@splitlet/contracts';
import { systemClock } from '@splitlet/service';
import { randomMessageBytes, SeededRandom, useNatsServer, waitFor } from '@splitlet/testing';
import { ProberMetrics } from './metrics';
import { FakeProber, silentLogger } from './__fixtures__/fakes';
import { container, podView, probe } from './__fixtures__/views';
import { ProbeManager } from './manager';
import type { NodePods } from './node-pods';
import { KvProbeResults } from './results';

// The prober's two inputs on a real nats-server — the pods view bucket and the
// replicas' heartbeat bucket — fed random bytes, random messages (fields often hostile
// values) and views of the node's own pods with random timings, targets, identities
// and IPs: no probe may run against a pod the node does not run or at a target its
// spec does not have, no probe loop may spin, and once pod-sync's views are back the
// node's pods are probed again. Fixed seed; FUZZ_SEED and FUZZ_N (entries of each
// sort) run it otherwise (bench/ runs it longer).
const SEED = Number(process.env['FUZZ_SEED'] ?? 14);
const N = Number(process.env['FUZZ_N'] ?? 100);

const NODE = 'fuzz-node';
const tcp80: V1Probe = { tcpSocket: { port: 80 }, periodSeconds: 1 };
const execReady: V1Probe = { exec: { command: ['cat', '/ready'] }, periodSeconds: 1 };

/** The API server's pods of the node (what the prober's informer holds). */
const API_PODS: V1Pod[] = [
  { metadata: { uid: 'web', name: 'web', namespace: 'default' }, spec: { nodeName: NODE, containers: [{ name: 'app', image: 'x', readinessProbe: tcp80 }] }, status: { podIP: '172.17.0.5' } },
  { metadata: { uid: 'db', name: 'db', namespace: 'default' }, spec: { nodeName: NODE, containers: [{ name: 'app', image: 'x', readinessProbe: execReady }] }, status: { podIP: '172.17.0.6' } },
];
const nodePods: NodePods = { synced: true, byUid: (uid) => API_PODS.find((p) => p.metadata?.uid === uid), onChange: () => undefined };

/** pod-sync's genuine views of the node's pods. */
const GENUINE: PodProbeView[] = [
  podView([container({ readiness: probe({ periodSeconds: 1 }) })], { podUid: 'web', name: 'web', podIp: '172.17.0.5', version: 1n }),
  podView([container({ readiness: probe({ periodSeconds: 1, handler: { case: 'exec', value: { command: ['cat', '/ready'] } } }) })], { podUid: 'db', name: 'db', podIp: '172.17.0.6', version: 1n }),
];
/**
 * What each genuine pod's probe may run: the spec's target, at its pod IP — or at
 * another address a pod can have (view-checks: a recreated sandbox's IP comes before
 * the status showing it), never at one no pod has (loopback, unspecified, link-local:
 * the host's own ports, a cloud's metadata service).
 */
const GENUINE_IPS = new Map([
  ['web', '172.17.0.5'],
  ['db', '172.17.0.6'],
]);
const NO_POD_IPS = ['127.0.0.1', '0.0.0.0', '169.254.169.254', '::1', '', 'x'];
const TARGETS = new Map([
  ['web', 'tcp 172.17.0.5:80'],
  ['db', 'exec 172.17.0.6 cat /ready'],
]);
/** What a probe reaches or runs, in the words of TARGETS. */
function target(podIp: string, p: Probe): string {
  const h = p.handler;
  switch (h.case) {
    case 'exec':
      return `exec ${podIp} ${h.value.command.join(' ')}`;
    case 'tcpSocket':
      return `tcp ${h.value.host || podIp}:${h.value.port || h.value.portName}`;
    case 'httpGet':
      return `http ${h.value.host || podIp}:${h.value.port || h.value.portName}`;
    default:
      return `${h.case} ${podIp}`;
  }
}

const KEY_CHARS = 'abcdefghijklmnopqrstuvwxyz0123456789-_';
const randomKey = (r: SeededRandom) => r.pick(['web', 'db', 'ghost', Array.from({ length: r.int(1, 20) }, () => r.pick([...KEY_CHARS])).join('')]);

/** A genuine view with random parts: timings, target, IP, identity, version. */
function mutatedView(r: SeededRandom): Uint8Array {
  const view = structuredClone(r.pick(GENUINE));
  const c = view.containers[0]!;
  const wild = fromBinary(ProbeSchema, randomMessageBytes(r, ProbeSchema));
  const p: Probe = create(ProbeSchema, { ...c.readiness!, ...(r.next() < 0.5 ? { periodSeconds: wild.periodSeconds, timeoutSeconds: wild.timeoutSeconds, initialDelaySeconds: wild.initialDelaySeconds } : {}), ...(r.next() < 0.2 ? { handler: wild.handler } : {}) });
  if (r.next() < 0.5) c.readiness = p;
  else c[r.pick(['liveness', 'startup'] as const)] = p;
  if (r.next() < 0.2) view.podIp = r.pick(['127.0.0.1', '0.0.0.0', '169.254.169.254', '::1', '10.9.9.9', '', 'x']);
  if (r.next() < 0.2) view.podUid = r.pick(['web', 'db', 'ghost']);
  if (r.next() < 0.1) view.name = r.pick(['web', 'db', 'ghost']);
  if (r.next() < 0.3) c.containerId = r.pick(['c1', 'c2', '']);
  view.version = BigInt(r.int(0, 5));
  return toBinary(PodProbeViewSchema, view);
}

describe('prober - fuzz', () => {
  const nats = useNatsServer();
  let pods: KV;
  let replicas: KV;
  let prober: FakeProber;
  const abort = new AbortController();
  let done: Promise<unknown>;

  beforeAll(async () => {
    pods = await openBucket(nats.nc, podsViewBucket(NODE));
    replicas = await openBucket(nats.nc, proberReplicasBucket(NODE), { ttlMs: 500 });
    const results = new KvProbeResults(await openBucket(nats.nc, probeResultsBucket(NODE)), 'only', systemClock, silentLogger);
    const { watching } = await results.start(abort.signal);
    prober = new FakeProber(systemClock);
    for (const v of GENUINE) await kvPut(pods, v.podUid, PodProbeViewSchema, v);
    const manager = new ProbeManager({ podsKv: pods, replicasKv: replicas, results, replica: { id: 'only', heartbeatMs: 100, ttlMs: 500 }, prober, clock: systemClock, logger: silentLogger, random: () => 0, resyncMs: 1000, nodePods, metrics: new ProberMetrics() });
    done = Promise.all([manager.run(abort.signal), watching]);
  });
  afterAll(async () => {
    abort.abort();
    await done;
  });

  it(`pods view and heartbeats - ${5 * N} random entries (seed ${SEED}): only the node's pods probed, only at their spec's targets, no probe loop spinning; probing goes on once pod-sync's views are back`, async () => {
    const r = new SeededRandom(SEED);
    const seen = new Map<string, { uid: string; ip: string; target: string }>();
    // What each probe call ran against, recorded as it happens.
    const probe = prober.probe.bind(prober);
    prober.probe = async (kind, pod, c, p) => {
      seen.set(`${pod.podUid}|${target(pod.podIp, p)}`, { uid: pod.podUid, ip: pod.podIp, target: target(pod.podIp, p) });
      return probe(kind, pod, c, p);
    };
    const t0 = Date.now();
    for (let i = 0; i < N; i++) {
      await pods.put(randomKey(r), r.bytes(r.int(0, 256)));
      await pods.put(randomKey(r), randomMessageBytes(r, PodProbeViewSchema));
      await pods.put(randomKey(r), mutatedView(r));
      await replicas.put(randomKey(r), r.bytes(r.int(0, 64)));
      await replicas.put(randomKey(r), randomMessageBytes(r, ReplicaHeartbeatSchema));
    }
    // pod-sync's next views (its housekeeping removes the others; here they are left).
    for (const v of GENUINE) await kvPut(pods, v.podUid, PodProbeViewSchema, { ...v, version: BigInt(Date.now()) * 1000n });
    const calls = prober.calls.length;
    await waitFor('both pods probed again', async () => (['web', 'db'].every((uid) => prober.calls.slice(calls).some((c) => c.pod === uid)) ? true : undefined), 10_000, 50);
    const elapsedS = (Date.now() - t0) / 1000;

    for (const { uid, ip, target } of seen.values()) {
      expect(['web', 'db'], `a probe of ${uid}`).toContain(uid);
      expect(NO_POD_IPS, `${uid}'s probe address`).not.toContain(ip);
      expect(target.replace(ip, GENUINE_IPS.get(uid)!), `${uid}'s probe target`).toBe(TARGETS.get(uid));
    }
    // Every probe has a period of at least a second here: a spinning worker (a timer past Node's longest) would run thousands.
    const perWorker = new Map<string, number>();
    for (const c of prober.calls) perWorker.set(`${c.pod}.${c.container}.${c.kind}`, (perWorker.get(`${c.pod}.${c.container}.${c.kind}`) ?? 0) + 1);
    for (const [worker, n] of perWorker) expect(n, `${worker} probed ${n} times in ${elapsedS} s`).toBeLessThan(10 * (elapsedS + 2));
  });
});
