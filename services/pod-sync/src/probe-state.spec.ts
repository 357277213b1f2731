import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { V1Container, V1Pod } from '@kubernetes/client-node';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { kvEntries, kvPut, openBucket, podsViewBucket, probeResultKey, probeResultsBucket } from '@splitlet/bus';
import { PodProbeViewSchema, ProbeKind, ProbeResultSchema, ProbeResultValue } from '@splitlet/contracts';
import { createLogger } from '@splitlet/telemetry';
import { startNatsServer, waitFor, type NatsServer } from '@splitlet/testing';
import { ProbeState } from './probe-state';
import { podProbeView } from './probe-view';

const logger = createLogger('pod-sync-test', { level: 'silent' });
const node = 'probe-state-node';

const web: V1Container = {
  name: 'web',
  image: 'x',
  ports: [{ name: 'http', containerPort: 8080 }],
  readinessProbe: { httpGet: { path: '/ready', port: 'http' } },
  livenessProbe: { tcpSocket: { port: 8080 }, periodSeconds: 2, terminationGracePeriodSeconds: 3 },
  startupProbe: { exec: { command: ['true'] }, failureThreshold: 30 },
};
const plain: V1Container = { name: 'plain', image: 'x' };
const pod: V1Pod = { metadata: { uid: 'u1', name: 'p', namespace: 'ns' }, spec: { containers: [web, plain], restartPolicy: 'OnFailure' } };

describe('pod-sync probe state', () => {
  let server: NatsServer;
  let nc: NatsConnection;
  let state: ProbeState;
  const ac = new AbortController();
  const synced: string[] = [];

  beforeAll(async () => {
    server = await startNatsServer();
    nc = await connect({ servers: server.url });
    state = new ProbeState(nc, node, logger);
    await state.start((uid) => void synced.push(uid), ac.signal);
  });
  afterAll(async () => {
    ac.abort();
    await nc.close();
    await server.stop();
  });

  const settle = async (kind: 'liveness' | 'readiness' | 'startup', containerId: string, result: ProbeResultValue) => {
    const results = await openBucket(nc, probeResultsBucket(node));
    const k = { liveness: ProbeKind.LIVENESS, readiness: ProbeKind.READINESS, startup: ProbeKind.STARTUP }[kind];
    const before = synced.length;
    await kvPut(results, probeResultKey('u1', 'web', kind), ProbeResultSchema, { podUid: 'u1', containerName: 'web', kind: k, containerId, result });
    await waitFor(`the ${kind} result to arrive`, async () => (synced.length > before ? true : undefined), 5000);
  };

  it('a container with probes is neither started nor ready until its probes say so; one without is both at once', async () => {
    expect(state.readiness('u1', plain, 'c1')).toEqual({ started: true, ready: true });
    expect(state.readiness('u1', web, 'c1')).toEqual({ started: false, ready: false });
    await settle('startup', 'c1', ProbeResultValue.SUCCESS);
    expect(state.readiness('u1', web, 'c1')).toEqual({ started: true, ready: false });
    await settle('readiness', 'c1', ProbeResultValue.SUCCESS);
    expect(state.readiness('u1', web, 'c1')).toEqual({ started: true, ready: true });
    expect(synced).toContain('u1');
    // Results are about one instance: a new container starts from nothing.
    expect(state.readiness('u1', web, 'c2')).toEqual({ started: false, ready: false });
  });

  it('a liveness failure of the running instance says kill; one of an older instance says nothing', async () => {
    expect(state.failedProbe('u1', web, 'c1')).toBeUndefined();
    await settle('liveness', 'c1', ProbeResultValue.FAILURE);
    expect(state.failedProbe('u1', web, 'c1')).toBe('liveness');
    expect(state.failedProbe('u1', web, 'c2')).toBeUndefined();
    await settle('startup', 'c2', ProbeResultValue.FAILURE);
    expect(state.failedProbe('u1', web, 'c2')).toBe('startup');
  });

  it('publishes the view with defaults applied and named ports kept, only when it changed, and removes it', async () => {
    const running = [{ name: 'web', image: 'x', imageID: '', ready: false, restartCount: 0, started: false, containerID: 'docker://c1', state: { running: { startedAt: new Date(1_700_000_000_000) } } }];
    const view = podProbeView(pod, running, '10.0.0.5', '192.168.1.1', 1n)!;
    expect(view.containers.map((c) => c.name)).toEqual(['web']);
    const c = view.containers[0]!;
    expect(c).toMatchObject({ containerId: 'c1', running: true, startedAt: 1_700_000_000_000_000_000n });
    expect(c.readiness).toMatchObject({ periodSeconds: 10, timeoutSeconds: 1, successThreshold: 1, failureThreshold: 3, handler: { case: 'httpGet', value: { port: 0, portName: 'http', path: '/ready', scheme: 'HTTP' } } });
    expect(c.liveness).toMatchObject({ periodSeconds: 2, terminationGracePeriodSeconds: 3n, handler: { case: 'tcpSocket', value: { port: 8080 } } });
    expect(c.startup).toMatchObject({ failureThreshold: 30, handler: { case: 'exec', value: { command: ['true'] } } });
    expect(podProbeView({ ...pod, spec: { containers: [plain] } }, [], '', '', 1n)).toBeUndefined();

    const views = await openBucket(nc, podsViewBucket(node));
    await state.publish('u1', view);
    const rev = (await views.get('u1'))!.revision;
    await state.publish('u1', podProbeView(pod, running, '10.0.0.5', '192.168.1.1', 2n)); // only the version differs
    expect((await views.get('u1'))!.revision).toBe(rev);
    await state.publish('u1', podProbeView({ ...pod, metadata: { ...pod.metadata, deletionTimestamp: new Date() } }, running, '10.0.0.5', '192.168.1.1', 3n));
    expect((await kvEntries(views, PodProbeViewSchema)).get('u1')?.terminating).toBe(true);
    await state.remove('u1');
    expect((await kvEntries(views, PodProbeViewSchema)).size).toBe(0);
  });

  it('ProbeState - removes the views of pods the node does not run (a forged one), and keeps the known pods\' views', async () => {
    const views = await openBucket(nc, podsViewBucket(node));
    const running = [{ name: 'web', image: 'x', imageID: '', ready: false, restartCount: 0, started: false, containerID: 'docker://c1', state: { running: { startedAt: new Date(1_700_000_000_000) } } }];
    await state.publish('u1', podProbeView(pod, running, '10.0.0.5', '192.168.1.1', 5n));
    await kvPut(views, 'ghost', PodProbeViewSchema, { podUid: 'ghost', name: 'ghost', namespace: 'ns', podIp: '127.0.0.1', version: 1n });
    expect(await state.removeUnknown(() => new Set(['u1']))).toEqual(['ghost']);
    expect([...(await kvEntries(views, PodProbeViewSchema)).keys()]).toEqual(['u1']);
  });

  it('ProbeState - a result under another probe\'s key is no result (a readiness Failure put under the liveness key once killed the container)', async () => {
    const results = await openBucket(nc, probeResultsBucket(node));
    await settle('liveness', 'c9', ProbeResultValue.SUCCESS);
    const before = synced.length;
    await kvPut(results, probeResultKey('u1', 'web', 'liveness'), ProbeResultSchema, { podUid: 'u1', containerName: 'web', kind: ProbeKind.READINESS, containerId: 'c9', result: ProbeResultValue.FAILURE });
    await waitFor('the misfiled result to arrive', async () => (synced.length > before ? true : undefined), 5000);
    expect(state.failedProbe('u1', web, 'c9')).toBeUndefined();
    expect(state.result('u1', 'web', 'liveness', 'c9')).toBeUndefined();
    expect(state.misfiledResults).toBeGreaterThan(0);
  });

  it('ProbeState - a value that does not decode is no result, as a restarted pod-sync reads it (the old result stayed in memory)', async () => {
    const results = await openBucket(nc, probeResultsBucket(node));
    await settle('readiness', 'c8', ProbeResultValue.SUCCESS);
    await settle('startup', 'c8', ProbeResultValue.SUCCESS);
    expect(state.readiness('u1', web, 'c8')).toEqual({ started: true, ready: true });
    const before = synced.length;
    await results.put(probeResultKey('u1', 'web', 'readiness'), new Uint8Array([0xff, 0xff, 0xff]));
    await waitFor('the garbage to arrive', async () => (synced.length > before ? true : undefined), 5000);
    expect(state.readiness('u1', web, 'c8')).toEqual({ started: true, ready: false });
    const restarted = new ProbeState(nc, node, logger);
    const stop = new AbortController();
    await restarted.start(() => undefined, stop.signal);
    stop.abort();
    expect(restarted.readiness('u1', web, 'c8')).toEqual(state.readiness('u1', web, 'c8'));
  });

  it("ProbeState - a pod's view someone else put or deleted is put back at once, newer than theirs (it stayed until the pod's view changed)", async () => {
    const views = await openBucket(nc, podsViewBucket(node));
    const running = [{ name: 'web', image: 'x', imageID: '', ready: false, restartCount: 0, started: false, containerID: 'docker://c1', state: { running: { startedAt: new Date(1_700_000_000_000) } } }];
    const nowUs = BigInt(Date.now()) * 1000n;
    const mine = podProbeView(pod, running, '10.0.0.5', '192.168.1.1', nowUs)!;
    await state.publish('u2', mine);
    const isMine = async () => {
      const v = (await kvEntries(views, PodProbeViewSchema)).get('u2');
      return v && v.podIp === '10.0.0.5' ? v : undefined;
    };
    // A forged view, 30 s ahead (the prober would take it): ours comes back newer still.
    const forgedVersion = nowUs + 30_000_000n;
    await kvPut(views, 'u2', PodProbeViewSchema, { ...mine, podIp: '127.0.0.1', version: forgedVersion });
    const back = await waitFor('the view put back', isMine, 5000, 20);
    expect(back.version).toBeGreaterThan(forgedVersion);
    await views.put('u2', new Uint8Array([0xff, 0xff]));
    await waitFor('the view put back over garbage', isMine, 5000, 20);
    await views.delete('u2');
    await waitFor('the view put back after a delete', isMine, 5000, 20);
    // Its next view is newer than the one put back.
    await state.publish('u2', { ...mine, podIp: '10.0.0.6', version: BigInt(Date.now()) * 1000n });
    expect((await kvEntries(views, PodProbeViewSchema)).get('u2')!.version).toBeGreaterThan(back.version);
    await state.remove('u2');
  });
});
