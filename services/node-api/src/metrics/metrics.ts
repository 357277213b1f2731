import type { ServerResponse } from 'node:http';
import type { NatsConnection } from '@nats-io/transport-node';
import { gatherRpc, mergeMetricFamilies, metricFamilies, type BusError, type MetricsSource, type MetricsService } from '@splitlet/bus';
import { podsyncv1, proberv1, type MetricFamily } from '@splitlet/contracts';
import type { Logger } from '@splitlet/telemetry';
import { Gauge, Registry } from 'prom-client';

// The kubelet's /metrics and /metrics/probes (pkg/kubelet/server/server.go). The
// figures belong to the services that count them: pod-sync's pod start and running
// pods (kubelet_*), the prober's probes (prober_*); node-api asks every replica of the
// owner over NATS at each scrape and sums them. Only node-api's own figures are kept here.

/** What one scrape of one owner got: each replica's families, and what went wrong. */
export interface GatheredFamilies {
  replies: { replicaId: string; families: MetricFamily[] }[];
  errors: BusError[];
}

/** Where the owners' figures come from (the bus; tests give fakes). */
export interface MetricsGatherer {
  /** Every prober replica's prober_* families. Never rejects for the bus. */
  prober(): Promise<GatheredFamilies>;
  /** Every pod-sync replica's kubelet_* families. Never rejects for the bus. */
  podSync(): Promise<GatheredFamilies>;
}

export interface GatherTiming {
  /** How long a scrape waits for an owner's first replica to answer. */
  firstReplyMs: number;
  /** How long after each answer it waits for another replica's. */
  stallMs: number;
}

/** Asks over NATS: one request that every replica of the owner answers (GatherMetrics, served with everyReplica). */
export function busMetricsGatherer(nc: NatsConnection, nodeName: string, timing: GatherTiming): MetricsGatherer {
  const gather = (service: MetricsService) => gatherRpc(nc, nodeName, service as typeof proberv1.ProberMetricsService, 'gatherMetrics', {}, timing);
  return { prober: () => gather(proberv1.ProberMetricsService), podSync: () => gather(podsyncv1.PodSyncMetricsService) };
}

/** The names each owner may answer for: what another service sends under a name it does not own is refused. */
const OWNED = { prober: ['prober_'], podSync: ['kubelet_'] } as const;

export interface MetricsDeps {
  nodeName: string;
  gatherer: MetricsGatherer;
  logger: Logger;
}

/**
 * node-api's own figures: kubelet_node_name (the kubelet's NodeName gauge, labelled with
 * the node, always 1), process_start_time_seconds (what the kubelet registers on both
 * endpoints) and how many replicas of each owner answered the scrape, so a replica
 * that did not is seen, not silently missing from the sums.
 */
export class OwnMetrics {
  readonly probes = new Registry();
  readonly kubelet = new Registry();
  private readonly probesReplicas: Gauge<'service'>;
  private readonly kubeletReplicas: Gauge<'service'>;

  constructor(nodeName: string, startedAt = performance.timeOrigin) {
    for (const registry of [this.probes, this.kubelet]) {
      new Gauge({ name: 'process_start_time_seconds', help: '[ALPHA] Start time of the process since unix epoch in seconds.', registers: [registry], aggregator: 'first' }).set(Math.floor(startedAt / 1000));
    }
    new Gauge({ name: 'kubelet_node_name', help: "[ALPHA] The node's name. The count is always 1.", labelNames: ['node'], registers: [this.kubelet], aggregator: 'first' }).set({ node: nodeName }, 1);
    const replicas = (registry: Registry) =>
      new Gauge({ name: 'splitlet_metrics_replicas', help: 'Replicas of the owning service whose figures this scrape holds.', labelNames: ['service'], registers: [registry], aggregator: 'first' });
    this.probesReplicas = replicas(this.probes);
    this.kubeletReplicas = replicas(this.kubelet);
  }

  answered(endpoint: 'probes' | 'kubelet', service: string, replicas: number): void {
    (endpoint === 'probes' ? this.probesReplicas : this.kubeletReplicas).set({ service }, replicas);
  }
}

const OWN_NAMES = ['process_start_time_seconds', 'kubelet_node_name', 'splitlet_metrics_replicas'];

/** GET /metrics/probes: every prober replica's prober_probe_total and prober_probe_duration_seconds, summed. */
export function serveProbeMetrics(deps: MetricsDeps, own: OwnMetrics, res: ServerResponse): Promise<void> {
  return serve(deps, own, 'probes', { name: 'prober', gather: () => deps.gatherer.prober(), prefixes: OWNED.prober }, res);
}

/** GET /metrics: pod-sync's kubelet_* figures (every replica, summed) and node-api's own. */
export function serveKubeletMetrics(deps: MetricsDeps, own: OwnMetrics, res: ServerResponse): Promise<void> {
  return serve(deps, own, 'kubelet', { name: 'pod-sync', gather: () => deps.gatherer.podSync(), prefixes: OWNED.podSync }, res);
}

async function serve(
  deps: MetricsDeps,
  own: OwnMetrics,
  endpoint: 'probes' | 'kubelet',
  owner: { name: string; gather: () => Promise<GatheredFamilies>; prefixes: readonly string[] },
  res: ServerResponse,
): Promise<void> {
  const gathered = await owner.gather();
  // No owner replica at all (it is down) is still an answer: node-api's figures, 0 replicas.
  for (const err of gathered.errors) deps.logger.warn({ service: owner.name, err: err.message, kind: err.kind }, 'a replica did not answer the metrics gather');
  // One answer per replica: a replica's second answer to the same gather would count its figures twice.
  const seen = new Set<string>();
  const replies = gathered.replies.filter((r) => !seen.has(r.replicaId) && Boolean(seen.add(r.replicaId)));
  if (replies.length < gathered.replies.length) deps.logger.warn({ service: owner.name, dropped: gathered.replies.length - replies.length }, 'a replica answered the metrics gather more than once; its first answer counts');
  own.answered(endpoint, owner.name, replies.length);
  const sources: MetricsSource[] = [
    // node-api's own first: for a name both give, the first source's family stands.
    { replies: [await metricFamilies(endpoint === 'probes' ? own.probes : own.kubelet)], prefixes: OWN_NAMES },
    { replies: replies.map((r) => r.families), prefixes: owner.prefixes, except: OWN_NAMES },
  ];
  const { text, refused } = await mergeMetricFamilies(sources);
  if (refused.length) deps.logger.warn({ service: owner.name, refused: refused.slice(0, 10) }, 'metric families refused');
  res.writeHead(200, { 'Content-Type': 'text/plain; version=0.0.4; charset=utf-8' });
  res.end(text);
}
