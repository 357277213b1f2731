import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type CoreV1Api, type V1Container, type V1Pod, type V1PodSpec } from '@kubernetes/client-node';
import { kubectl, labEnv, runCommand, podTestNames, startPodTestNode, waitFor, type TestNode } from '@splitlet/testing';

// Probes end to end: the prober runs them (exec through runtime-executor, HTTP, TCP,
// gRPC to the pod IP), pod-sync turns results into ready/started and kills what fails
// its liveness probe, status-reporter writes what `kubectl get pod -o yaml` shows.
const lab = labEnv();
const names = podTestNames('e2e-probes');
const { nodeName, namespace } = names;
let core: CoreV1Api;
let nodeStartedAt = 0;

// A gRPC health server (grpc.health.v1.Health/Check answers SERVING, or NOT_SERVING
// for the service "down") in plain Node.js over h2c: the lab has no gRPC image.
const grpcServer = `
const http2 = require('http2');
http2.createServer((req, res) => {
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', () => {
    const body = Buffer.concat(chunks).subarray(5);
    const service = body.length > 2 ? body.subarray(2, 2 + body[1]).toString() : '';
    const status = service === 'down' ? 2 : 1;
    res.writeHead(200, { 'content-type': 'application/grpc' });
    res.addTrailers({ 'grpc-status': '0' });
    res.end(Buffer.from([0, 0, 0, 0, 2, 0x08, status]));
  });
}).listen(9000);`;

const box = (c: Partial<V1Container>): V1Container => ({ name: 'app', image: 'splitlet-lab/testbox:1', command: ['sleep', '3600'], ...c });
const pods: Record<string, Partial<V1PodSpec>> = {
  'exec-ready': {
    // Ready once the test has seen it fail (it makes /tmp/ready then): on a loaded host
    // a fixed delay may pass before the first probe, and there would be nothing to see.
    containers: [box({ readinessProbe: { exec: { command: ['cat', '/tmp/ready'] }, periodSeconds: 1 } })],
  },
  'http-ready': {
    containers: [
      box({
        command: ['sh', '-c', 'mkdir -p /tmp/www && echo ok > /tmp/www/healthz && httpd -f -p 8080 -h /tmp/www'],
        ports: [{ name: 'web', containerPort: 8080 }],
        readinessProbe: { httpGet: { path: '/healthz', port: 'web' }, periodSeconds: 1, failureThreshold: 2 },
      }),
    ],
  },
  'tcp-liveness': {
    terminationGracePeriodSeconds: 1,
    containers: [box({ livenessProbe: { tcpSocket: { port: 7777 }, periodSeconds: 1, failureThreshold: 2, timeoutSeconds: 1 } })],
  },
  grpc: {
    containers: [{ name: 'app', image: 'splitlet-lab/node:24', command: ['node', '-e', grpcServer], readinessProbe: { grpc: { port: 9000 }, periodSeconds: 1 } }],
  },
  // A pod of its own: Events are throttled per source and pod (client-go's spam filter, 25
  // then one per 5 minutes), and every failed probe before the server listens is an
  // Unhealthy Event; two containers probed each second while node starts on a loaded
  // machine used the pod's 25 before the first NOT_SERVING.
  'grpc-down': {
    containers: [{ name: 'down', image: 'splitlet-lab/node:24', command: ['node', '-e', grpcServer.replace('9000', '9001')], readinessProbe: { grpc: { port: 9001, service: 'down' }, periodSeconds: 1 } }],
  },
  // A sidecar whose startup probe passes after 5 s: the app container waits for it.
  'sidecar-startup': {
    initContainers: [
      box({ name: 'side', restartPolicy: 'Always', command: ['sh', '-c', 'sleep 5; touch /tmp/up; sleep 3600'], startupProbe: { exec: { command: ['cat', '/tmp/up'] }, periodSeconds: 1, failureThreshold: 30 } }),
    ],
    containers: [box({})],
  },
};

// Started after 3 s, readiness every 30 s: Ready at once when its startup probe has
// passed, or up to a period later. Created in its own test once the prober has run for
// a period: a prober that has just started spreads its first probes over a period (the
// kubelet's jitter), and a trigger does not cut that short.
const READINESS_PERIOD_S = 30;
const startupReadyPod: Partial<V1PodSpec> = {
  containers: [
    box({
      command: ['sh', '-c', 'sleep 3; touch /tmp/up; sleep 3600'],
      startupProbe: { exec: { command: ['cat', '/tmp/up'] }, periodSeconds: 1, failureThreshold: 30 },
      readinessProbe: { exec: { command: ['cat', '/tmp/up'] }, periodSeconds: READINESS_PERIOD_S },
    }),
  ],
};

// Created in its own test: its first seconds are what the test looks at.
const startupPod: Partial<V1PodSpec> = {
    containers: [
      box({
        command: ['sh', '-c', 'sleep 4; touch /tmp/up; sleep 3600'],
        startupProbe: { exec: { command: ['cat', '/tmp/up'] }, periodSeconds: 1, failureThreshold: 30 },
        livenessProbe: { exec: { command: ['cat', '/tmp/up'] }, periodSeconds: 1, failureThreshold: 1 },
      }),
    ],
  };

const read = (name: string) => core.readNamespacedPod({ namespace, name });
const until = (name: string, what: string, ok: (p: V1Pod) => boolean, timeoutMs = 60_000) =>
  waitFor(`${name}: ${what}`, async () => {
    const p = await read(name);
    return ok(p) ? p : undefined;
  }, timeoutMs);
const condition = (p: V1Pod, type: string) => p.status?.conditions?.find((c) => c.type === type);
const eventsOf = async (name: string, reason: string) => (await core.listNamespacedEvent({ namespace, fieldSelector: `involvedObject.name=${name},reason=${reason}` })).items;

describe('probes on a splitlet node', () => {
  let stopNode: (() => Promise<void>) | undefined;
  let node: TestNode;
  beforeAll(async () => {
    ({ core, node, stop: stopNode } = await startPodTestNode(names, { prober: true }));
    nodeStartedAt = Date.now();
    for (const [name, spec] of Object.entries(pods))
      await core.createNamespacedPod({ namespace, body: { metadata: { name, namespace }, spec: { nodeName, terminationGracePeriodSeconds: 2, containers: [], ...spec } } });
  });
  afterAll(async () => {
    await stopNode?.();
  });

  it('prober - exec readiness: running but not ready until the probe succeeds, then Ready; Unhealthy Events meanwhile', async () => {
    const notReady = await until('exec-ready', 'running, not ready', (p) => Boolean(p.status?.containerStatuses?.[0]?.state?.running));
    expect(notReady.status?.containerStatuses?.[0]).toMatchObject({ ready: false, started: true });
    expect(condition(notReady, 'Ready')).toMatchObject({ status: 'False', reason: 'ContainersNotReady', message: 'containers with unready status: [app]' });
    const unhealthy = await waitFor('an Unhealthy Event', async () => (await eventsOf('exec-ready', 'Unhealthy'))[0], 30_000);
    expect(unhealthy).toMatchObject({ type: 'Warning', involvedObject: { fieldPath: 'spec.containers{app}' } });
    expect(unhealthy.message).toMatch(/^Readiness probe failed: /);
    expect(condition(await read('exec-ready'), 'Ready')?.status).toBe('False');
    await runCommand('docker', ['exec', notReady.status!.containerStatuses![0]!.containerID!.replace('docker://', ''), 'touch', '/tmp/ready']);
    const ready = await until('exec-ready', 'Ready', (p) => condition(p, 'Ready')?.status === 'True', 30_000);
    expect(ready.status?.containerStatuses?.[0]?.ready).toBe(true);
    expect(condition(ready, 'ContainersReady')?.status).toBe('True');
  });

  it('prober - httpGet readiness on a named port: Ready; when the path starts failing, not ready after failureThreshold', async () => {
    const ready = await until('http-ready', 'Ready', (p) => condition(p, 'Ready')?.status === 'True');
    const cid = ready.status!.containerStatuses![0]!.containerID!.replace('docker://', '');
    await runCommand('docker', ['exec', cid, 'rm', '/tmp/www/healthz']);
    const failing = await until('http-ready', 'not ready', (p) => condition(p, 'Ready')?.status === 'False', 20_000);
    expect(failing.status?.containerStatuses?.[0]).toMatchObject({ ready: false, restartCount: 0 });
    // (The Event travels apart from the status: it may be written a moment after it.)
    const message = 'Readiness probe failed: HTTP probe failed with statuscode: 404';
    await waitFor('the 404 Event', async () => (await eventsOf('http-ready', 'Unhealthy')).find((e) => e.message === message), 30_000);
  });

  it('prober - a failing tcpSocket liveness probe: the container is killed and restarted, with the kubelet\'s Events', async () => {
    const restarted = await until('tcp-liveness', 'a restart', (p) => (p.status?.containerStatuses?.[0]?.restartCount ?? 0) >= 1, 60_000);
    expect(restarted.status?.containerStatuses?.[0]?.lastState?.terminated).toBeDefined();
    const killing = await eventsOf('tcp-liveness', 'Killing');
    expect(killing.map((e) => e.message)).toContain('Container app failed liveness probe, will be restarted');
    const unhealthy = await eventsOf('tcp-liveness', 'Unhealthy');
    expect(unhealthy[0]?.message).toMatch(/^Liveness probe failed: dial tcp [\d.]+:7777: connect: connection refused$/);
  });

  it('prober - a startup probe holds the container not started (and liveness off) until it succeeds', async () => {
    await core.createNamespacedPod({ namespace, body: { metadata: { name: 'startup', namespace }, spec: { nodeName, terminationGracePeriodSeconds: 2, containers: [], ...startupPod } } });
    const early = await until('startup', 'running', (p) => Boolean(p.status?.containerStatuses?.[0]?.state?.running));
    expect(early.status?.containerStatuses?.[0]).toMatchObject({ started: false, ready: false });
    const started = await until('startup', 'started', (p) => p.status?.containerStatuses?.[0]?.started === true, 30_000);
    expect(started.status?.containerStatuses?.[0]).toMatchObject({ ready: true, restartCount: 0 });
    // The liveness probe (failureThreshold 1) would have killed it had it run before startup succeeded.
    expect(await eventsOf('startup', 'Killing')).toEqual([]);
  });

  it('prober - readiness is probed as soon as the startup probe succeeds, not a readiness period later', async () => {
    const wait = nodeStartedAt + (READINESS_PERIOD_S + 1) * 1000 - Date.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    await core.createNamespacedPod({ namespace, body: { metadata: { name: 'startup-ready', namespace }, spec: { nodeName, terminationGracePeriodSeconds: 2, containers: [], ...startupReadyPod } } });
    const ready = await until('startup-ready', 'Ready', (p) => condition(p, 'Ready')?.status === 'True', 60_000);
    const app = ready.status!.containerStatuses![0]!;
    expect(app).toMatchObject({ started: true, ready: true });
    // Its readiness worker ticks when the pod is seen (not started yet: no probe), then a
    // period later. Ready before that second tick is the trigger's doing: the first
    // readiness probe ran when the startup probe had passed, about 3 s after the start.
    const readyAfter = Date.parse(String(condition(ready, 'Ready')!.lastTransitionTime)) - Date.parse(String(app.state!.running!.startedAt));
    expect(readyAfter).toBeLessThan((READINESS_PERIOD_S - 10) * 1000);
  });

  it('prober - a sidecar with a startup probe holds the app containers until it has started', async () => {
    const p = await until('sidecar-startup', 'app running', (x) => Boolean(x.status?.containerStatuses?.[0]?.state?.running), 60_000);
    const side = p.status!.initContainerStatuses![0]!;
    expect(side).toMatchObject({ name: 'side', started: true });
    const gap = Date.parse(String(p.status!.containerStatuses![0]!.state!.running!.startedAt)) - Date.parse(String(side.state!.running!.startedAt));
    // The sidecar's startup probe passes 5 s after it started; the app starts after that.
    expect(gap).toBeGreaterThanOrEqual(4_000);
  });

  it('prober - grpc: SERVING is ready; NOT_SERVING for a named service is not', async () => {
    const p = await until('grpc', 'app ready', (x) => x.status?.containerStatuses?.find((c) => c.name === 'app')?.ready === true, 90_000);
    expect(condition(p, 'Ready')?.status).toBe('True');
    const message = 'Readiness probe failed: service unhealthy (responded with "NOT_SERVING")';
    // (Before the server listens, the probe fails to connect: an Unhealthy Event of its own.)
    const unhealthy = await waitFor('the NOT_SERVING event', async () => (await eventsOf('grpc-down', 'Unhealthy')).find((e) => e.involvedObject.fieldPath === 'spec.containers{down}' && e.message === message), 60_000);
    const down = await read('grpc-down');
    expect(down.status?.containerStatuses?.find((c) => c.name === 'down')).toMatchObject({ ready: false, state: { running: {} } });
    expect(condition(down, 'Ready')).toMatchObject({ status: 'False', message: 'containers with unready status: [down]' });
    expect(unhealthy.type).toBe('Warning');
  });

  it('prober - a deleted pod reports not ready while it terminates, then is gone', async () => {
    await until('exec-ready', 'Ready', (p) => condition(p, 'Ready')?.status === 'True', 30_000);
    // Its shell ignores SIGTERM, so it terminates for the whole grace period.
    await core.deleteNamespacedPod({ namespace, name: 'exec-ready', gracePeriodSeconds: 10 });
    const terminating = await until('exec-ready', 'terminating, not ready', (p) => Boolean(p.metadata?.deletionTimestamp) && condition(p, 'Ready')?.status === 'False', 8_000);
    expect(terminating.status?.containerStatuses?.[0]?.ready).toBe(false);
    await waitFor('exec-ready gone', async () => ((await kubectl(lab.adminKubeconfig, ['get', 'pod', '-n', namespace, 'exec-ready'])).code !== 0 ? true : undefined), 60_000);
  });

  it('prober - killed (SIGKILL) while a readiness probe starts failing: the Node goes NotReady naming it; once it is back the pod goes not ready within seconds', async () => {
    await core.createNamespacedPod({
      namespace,
      body: { metadata: { name: 'outage', namespace }, spec: { nodeName, terminationGracePeriodSeconds: 1, containers: [box({ command: ['sh', '-c', 'touch /tmp/ready; sleep 3600'], readinessProbe: { exec: { command: ['cat', '/tmp/ready'] }, periodSeconds: 1, failureThreshold: 1 } })] } },
    });
    const ready = await until('outage', 'Ready', (p) => condition(p, 'Ready')?.status === 'True', 60_000);
    const id = ready.status!.containerStatuses![0]!.containerID!.replace('docker://', '');
    await node.stop('prober', 'SIGKILL');
    const killedAt = Date.now();
    expect((await runCommand('docker', ['exec', id, 'rm', '/tmp/ready'])).code).toBe(0);
    const nodeReady = async () => (await core.readNode({ name: nodeName })).status?.conditions?.find((c) => c.type === 'Ready');
    const notReady = await waitFor('the Node NotReady', async () => {
      const c = await nodeReady();
      return c?.status === 'False' ? c : undefined;
    }, 60_000);
    const nodeNotReadyAfter = Date.now() - killedAt;
    expect(notReady.message).toContain('prober is not running');
    // Nobody probed meanwhile: the pod still shows ready.
    expect(condition(await read('outage'), 'Ready')?.status).toBe('True');
    await node.start('prober');
    const backAt = Date.now();
    await until('outage', 'not ready', (p) => condition(p, 'Ready')?.status === 'False', 10_000);
    console.log(`prober outage: the Node NotReady ${nodeNotReadyAfter} ms after the kill; the pod not ready ${Date.now() - backAt} ms after the prober started`);
    await waitFor('the Node Ready again', async () => ((await nodeReady())?.status === 'True' ? true : undefined), 40_000);
  });
});
