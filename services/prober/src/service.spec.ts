import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { gatherRpc, kubeEventsSubjects, kvGet, kvPut, openBucket, podsViewBucket, probeResultKey, probeResultsBucket, subscribe } from '@splitlet/bus';
import { KubeEventSchema, PodProbeViewSchema, proberv1, ProbeResultSchema, ProbeResultValue } from '@splitlet/contracts';
import { startNatsServer, startServiceProcess, waitFor, type NatsServer, type ServiceProcess } from '@splitlet/testing';
import { silentLogger } from './__fixtures__/fakes';
import { container, podView, probe } from './__fixtures__/views';

// The real bundle (nx build prober) against a real nats-server and a local HTTP server:
// the view in, results and Events out.
describe('prober service', () => {
  let server: NatsServer;
  let nc: NatsConnection;
  let http: Server;
  let status = 200;
  let svc: ServiceProcess;
  beforeAll(async () => {
    server = await startNatsServer();
    nc = await connect({ servers: server.url });
    http = createServer((_req, res) => {
      res.statusCode = status;
      res.end();
    });
    await new Promise<void>((r) => http.listen(0, '127.0.0.1', r));
  });
  afterAll(async () => {
    svc?.kill('SIGKILL');
    await nc?.close();
    await server?.stop();
    await new Promise((r) => http.close(r));
  });

  it('prober - probes the pods of the view over HTTP, publishes settled results and Unhealthy Events with the container field path', async () => {
    const node = 'node-svc';
    const events: string[] = [];
    subscribe(nc, kubeEventsSubjects(node), KubeEventSchema, async (e) => void events.push(`${e.involvedObject?.fieldPath} ${e.type} ${e.reason} ${e.message}`), { logger: silentLogger });
    const port = (http.address() as AddressInfo).port;
    const pods = await openBucket(nc, podsViewBucket(node));
    const results = await openBucket(nc, probeResultsBucket(node));
    const view = podView(
      [container({ name: 'web', sidecar: true, ports: [{ name: 'http', containerPort: port }], readiness: probe({ periodSeconds: 1, failureThreshold: 2, handler: { case: 'httpGet', value: { portName: 'http', path: '/ready' } } }) })],
      { podUid: 'uid-svc' },
    );
    await kvPut(pods, 'uid-svc', PodProbeViewSchema, view);
    svc = startServiceProcess('prober', { NATS_URL: server.url, SPLITLET_NODE_NAME: node, SPLITLET_PROBER_REPLICA_ID: 'only' });
    const key = probeResultKey('uid-svc', 'web', 'readiness');
    const settled = (v: ProbeResultValue) => waitFor(`readiness ${v}`, async () => ((await kvGet(results, key, ProbeResultSchema))?.result === v ? true : undefined), 10_000, 100);
    await settled(ProbeResultValue.SUCCESS);
    expect(await kvGet(results, key, ProbeResultSchema)).toMatchObject({ containerId: 'c1', prober: 'only', podUid: 'uid-svc', containerName: 'web' });
    // What node-api gathers for /metrics/probes: this replica's count of the probes it ran.
    const { replies, errors } = await gatherRpc(nc, node, proberv1.ProberMetricsService, 'gatherMetrics', {}, { firstReplyMs: 5000, stallMs: 200 });
    expect(errors).toEqual([]);
    expect(replies.map((r) => r.replicaId)).toEqual(['only']);
    const probes = replies[0]!.families.find((f) => f.name === 'prober_probe_total')?.samples ?? [];
    const successes = probes.find((p) => p.labels.result === 'successful' && p.labels.probe_type === 'Readiness' && p.labels.pod_uid === 'uid-svc' && p.labels.container === 'web');
    expect(successes?.value).toBeGreaterThanOrEqual(1);
    status = 503;
    await settled(ProbeResultValue.FAILURE);
    expect((await kvGet(results, key, ProbeResultSchema))?.message).toBe('HTTP probe failed with statuscode: 503');
    await waitFor('two Unhealthy events', async () => (events.length >= 2 ? true : undefined), 5_000, 50);
    expect(events[0]).toBe('spec.initContainers{web} Warning Unhealthy Readiness probe failed: HTTP probe failed with statuscode: 503');
    svc.kill('SIGTERM');
    expect((await svc.exited).code).toBe(0);
  });
});
