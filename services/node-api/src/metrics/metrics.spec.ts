import type { ServerResponse } from 'node:http';
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { metricFamilies, NoRespondersError, RemoteError } from '@splitlet/bus';
import { create, MetricFamilySchema, MetricType, type MetricFamily } from '@splitlet/contracts';
import { createLogger } from '@splitlet/telemetry';
import { OwnMetrics, serveKubeletMetrics, serveProbeMetrics, type GatheredFamilies, type MetricsDeps } from './metrics';

const logger = createLogger('node-api', { level: 'silent' });

/** A ServerResponse that keeps what is written. */
function response(): ServerResponse & { status: number; body: string; headers: Record<string, string> } {
  const r = { status: 0, body: '', headers: {} as Record<string, string> };
  return Object.assign(r, {
    writeHead(status: number, headers: Record<string, string>) {
      r.status = status;
      r.headers = headers;
    },
    end(body: string) {
      r.body = body;
    },
  }) as never;
}

/** One prober replica's families: `probes` successful readiness probes of pod web, each 20 ms. */
async function proberReplica(probes: number): Promise<MetricFamily[]> {
  const registry = new Registry();
  const total = new Counter({ name: 'prober_probe_total', help: 'h', labelNames: ['probe_type', 'result', 'container', 'pod', 'namespace', 'pod_uid'], registers: [registry] });
  const duration = new Histogram({ name: 'prober_probe_duration_seconds', help: 'h', labelNames: ['probe_type', 'container', 'pod', 'namespace'], registers: [registry] });
  for (let i = 0; i < probes; i++) {
    total.inc({ probe_type: 'Readiness', result: 'successful', container: 'app', pod: 'web', namespace: 'ns', pod_uid: 'u1' });
    duration.observe({ probe_type: 'Readiness', container: 'app', pod: 'web', namespace: 'ns' }, 0.02);
  }
  return metricFamilies(registry);
}

async function podSyncReplica(runningPods: number): Promise<MetricFamily[]> {
  const registry = new Registry();
  new Gauge({ name: 'kubelet_running_pods', help: 'h', registers: [registry] }).set(runningPods);
  return metricFamilies(registry);
}

function deps(prober: () => Promise<GatheredFamilies>, podSync: () => Promise<GatheredFamilies> = async () => ({ replies: [], errors: [] })): MetricsDeps {
  return { nodeName: 'node-a', gatherer: { prober, podSync }, logger };
}

const lines = (body: string, prefix: string) => body.split('\n').filter((l) => l.startsWith(prefix));

describe('metrics', () => {
  it('serveProbeMetrics - every prober replica\'s probes summed, with the kubelet\'s labels, and how many replicas answered', async () => {
    const res = response();
    const d = deps(async () => ({ replies: [{ replicaId: 'a', families: await proberReplica(3) }, { replicaId: 'b', families: await proberReplica(2) }], errors: [] }));
    await serveProbeMetrics(d, new OwnMetrics('node-a', 1_764_700_000_000), res);
    expect(res.status).toBe(200);
    expect(res.headers['Content-Type']).toBe('text/plain; version=0.0.4; charset=utf-8');
    expect(lines(res.body, 'prober_probe_total{')).toEqual(['prober_probe_total{container="app",namespace="ns",pod="web",pod_uid="u1",probe_type="Readiness",result="successful"} 5']);
    expect(lines(res.body, 'prober_probe_duration_seconds_count{')).toEqual(['prober_probe_duration_seconds_count{container="app",namespace="ns",pod="web",probe_type="Readiness"} 5']);
    expect(lines(res.body, 'prober_probe_duration_seconds_bucket{container="app",namespace="ns",pod="web",probe_type="Readiness",le="0.025"}')).toEqual([
      // As the kubelet writes them: labels by name, le last.
      'prober_probe_duration_seconds_bucket{container="app",namespace="ns",pod="web",probe_type="Readiness",le="0.025"} 5',
    ]);
    expect(lines(res.body, 'process_start_time_seconds')).toEqual(['process_start_time_seconds 1764700000']);
    expect(lines(res.body, 'splitlet_metrics_replicas{')).toEqual(['splitlet_metrics_replicas{service="prober"} 2']);
    // The kubelet keeps its own figures off /metrics/probes.
    expect(res.body).not.toContain('kubelet_node_name');
  });

  it('serveProbeMetrics - a replica that answers the gather twice counts once (its first answer)', async () => {
    const res = response();
    const d = deps(async () => ({ replies: [{ replicaId: 'a', families: await proberReplica(3) }, { replicaId: 'a', families: await proberReplica(7) }, { replicaId: 'b', families: await proberReplica(2) }], errors: [] }));
    await serveProbeMetrics(d, new OwnMetrics('node-a', 1_764_700_000_000), res);
    expect(lines(res.body, 'prober_probe_total{')).toEqual(['prober_probe_total{container="app",namespace="ns",pod="web",pod_uid="u1",probe_type="Readiness",result="successful"} 5']);
    expect(lines(res.body, 'splitlet_metrics_replicas{')).toEqual(['splitlet_metrics_replicas{service="prober"} 2']);
  });

  it('serveProbeMetrics - no prober at all, or one that answers an error: still 200 with node-api\'s own figures, the replicas that answered counted', async () => {
    const none = response();
    await serveProbeMetrics(deps(async () => ({ replies: [], errors: [new NoRespondersError('splitlet.node-a.prober.v1.GatherMetrics')] })), new OwnMetrics('node-a'), none);
    expect(none.status).toBe(200);
    expect(lines(none.body, 'splitlet_metrics_replicas{')).toEqual(['splitlet_metrics_replicas{service="prober"} 0']);
    expect(none.body).not.toContain('prober_probe_total{');

    const one = response();
    await serveProbeMetrics(deps(async () => ({ replies: [{ replicaId: 'a', families: await proberReplica(1) }], errors: [new RemoteError('s', 13, 'broken')] })), new OwnMetrics('node-a'), one);
    expect(lines(one.body, 'splitlet_metrics_replicas{')).toEqual(['splitlet_metrics_replicas{service="prober"} 1']);
    expect(lines(one.body, 'prober_probe_total{')).toHaveLength(1);
  });

  it('serveProbeMetrics - a prober that answers for figures it does not own (kubelet_*, node-api\'s) is not believed', async () => {
    const forged = [
      create(MetricFamilySchema, { name: 'kubelet_running_pods', help: 'h', type: MetricType.GAUGE, samples: [{ name: 'kubelet_running_pods', value: 99 }] }),
      create(MetricFamilySchema, { name: 'process_start_time_seconds', help: 'h', type: MetricType.GAUGE, samples: [{ name: 'process_start_time_seconds', value: 1 }] }),
    ];
    const res = response();
    await serveProbeMetrics(deps(async () => ({ replies: [{ replicaId: 'a', families: [...forged, ...(await proberReplica(1))] }], errors: [] })), new OwnMetrics('node-a', 1_764_700_000_000), res);
    expect(res.body).not.toContain('kubelet_running_pods');
    expect(lines(res.body, 'process_start_time_seconds')).toEqual(['process_start_time_seconds 1764700000']);
    expect(lines(res.body, 'prober_probe_total{')).toHaveLength(1);
  });

  it('serveKubeletMetrics - pod-sync\'s kubelet_* figures summed over its replicas, the node\'s name, and no prober figures', async () => {
    const res = response();
    let proberAsked = false;
    const d = deps(
      async () => ((proberAsked = true), { replies: [], errors: [] }),
      async () => ({ replies: [{ replicaId: 'a', families: await podSyncReplica(2) }, { replicaId: 'b', families: await podSyncReplica(1) }], errors: [] }),
    );
    await serveKubeletMetrics(d, new OwnMetrics('node-a'), res);
    expect(res.status).toBe(200);
    expect(lines(res.body, 'kubelet_running_pods')).toEqual(['kubelet_running_pods 3']);
    expect(lines(res.body, 'kubelet_node_name')).toEqual(['kubelet_node_name{node="node-a"} 1']);
    expect(lines(res.body, 'splitlet_metrics_replicas{')).toEqual(['splitlet_metrics_replicas{service="pod-sync"} 2']);
    expect(proberAsked).toBe(false);
  });

  it('serveKubeletMetrics - pod-sync answering for node-api\'s kubelet_node_name (under its kubelet_ prefix) is not believed', async () => {
    const forged = create(MetricFamilySchema, { name: 'kubelet_node_name', help: 'h', type: MetricType.GAUGE, samples: [{ name: 'kubelet_node_name', labels: { node: 'elsewhere' }, value: 1 }] });
    const res = response();
    await serveKubeletMetrics(deps(async () => ({ replies: [], errors: [] }), async () => ({ replies: [{ replicaId: 'a', families: [forged, ...(await podSyncReplica(1))] }], errors: [] })), new OwnMetrics('node-a'), res);
    expect(lines(res.body, 'kubelet_node_name')).toEqual(['kubelet_node_name{node="node-a"} 1']);
    expect(lines(res.body, 'kubelet_running_pods')).toEqual(['kubelet_running_pods 1']);
  });
});
