import { create } from '@bufbuild/protobuf';
import type { Service } from '@nats-io/services';
import { Aggregation, MetricFamilySchema, MetricType, SampleSchema, type MetricFamily, type podsyncv1, type proberv1 } from '@splitlet/contracts';
import type { Logger } from 'pino';
import { AggregatorRegistry, type Registry } from 'prom-client';
import { serveRpc } from './rpc';

// A service's own Prometheus figures on the wire (proto splitlet.metrics.v1): each
// owner keeps them in a prom-client Registry of its own and answers GatherMetrics with
// metricFamilies(); node-api merges every replica's answer with mergeMetricFamilies()
// into the Prometheus text it serves. The families that arrive are untrusted input:
// they are checked before prom-client sees them.

type PromType = 'counter' | 'gauge' | 'histogram' | 'summary';
type PromAggregator = 'sum' | 'first' | 'max' | 'min';

// prom-client's getMetricsAsJSON() shape (its typings declare `type` as a numeric enum; it is the name).
interface PromFamily {
  name: string;
  help: string;
  type: PromType;
  aggregator: PromAggregator;
  values: { value: number; labels: Record<string, string | number>; metricName?: string }[];
}

const TYPE_TO_WIRE: Record<PromType, MetricType> = {
  counter: MetricType.COUNTER,
  gauge: MetricType.GAUGE,
  histogram: MetricType.HISTOGRAM,
  summary: MetricType.SUMMARY,
};
const TYPE_FROM_WIRE = new Map<MetricType, PromType>(Object.entries(TYPE_TO_WIRE).map(([k, v]) => [v, k as PromType]));
const AGGREGATION_TO_WIRE: Record<string, Aggregation> = { sum: Aggregation.UNSPECIFIED, first: Aggregation.FIRST, max: Aggregation.MAX, min: Aggregation.MIN };
const AGGREGATION_FROM_WIRE = new Map<Aggregation, PromAggregator>([
  [Aggregation.UNSPECIFIED, 'sum'],
  [Aggregation.FIRST, 'first'],
  [Aggregation.MAX, 'max'],
  [Aggregation.MIN, 'min'],
]);

/** A registry's families as GatherMetrics answers them (collect callbacks run first, as for a scrape). */
export async function metricFamilies(registry: Registry): Promise<MetricFamily[]> {
  const families = (await registry.getMetricsAsJSON()) as unknown as PromFamily[];
  return families.map((f) =>
    create(MetricFamilySchema, {
      name: f.name,
      help: f.help,
      type: TYPE_TO_WIRE[f.type],
      // 'average' and 'omit' have no meaning across a node's replicas: such a family is summed.
      aggregation: AGGREGATION_TO_WIRE[f.aggregator] ?? Aggregation.UNSPECIFIED,
      samples: f.values.map((v) =>
        create(SampleSchema, {
          name: v.metricName ?? f.name,
          labels: Object.fromEntries(Object.entries(v.labels).map(([k, l]) => [k, String(l)])),
          value: v.value,
        }),
      ),
    }),
  );
}

/** The services that own figures node-api serves: each has one GatherMetrics RPC of the same shape. */
export type MetricsService = typeof proberv1.ProberMetricsService | typeof podsyncv1.PodSyncMetricsService;

/**
 * Serves `registry` as GatherMetrics on every replica (not one of a queue group): the
 * figures of a replica are its share of the node's, and node-api sums them.
 */
export function serveMetrics(svc: Service, nodeName: string, service: MetricsService, source: { registry: Registry; replicaId: string }, logger: Logger): void {
  // Both services' GatherMetrics have the same request and reply fields.
  serveRpc(svc, nodeName, service as typeof proberv1.ProberMetricsService, { gatherMetrics: async () => ({ replicaId: source.replicaId, families: await metricFamilies(source.registry) }) }, { logger, everyReplica: true });
}

const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;
const SUFFIXES: Record<PromType, readonly string[]> = {
  counter: [''],
  gauge: [''],
  histogram: ['_bucket', '_sum', '_count'],
  summary: ['', '_sum', '_count'],
};

/** Why a family was left out of a merge (for the caller's log). */
export interface RefusedFamily {
  name: string;
  reason: string;
}

/**
 * Checks one family as it came over the bus: a Prometheus name under one of the
 * owner's prefixes, a known type, each sample named after the family (with its type's
 * suffixes) and carrying valid label names. Returns prom-client's shape or why not.
 */
export function checkFamily(f: MetricFamily, opts: { prefixes: readonly string[] }): PromFamily | RefusedFamily {
  const refuse = (reason: string): RefusedFamily => ({ name: f.name.slice(0, 200), reason });
  if (!METRIC_NAME.test(f.name)) return refuse('not a metric name');
  if (!opts.prefixes.some((p) => f.name.startsWith(p))) return refuse('not a metric of the answering service');
  const type = TYPE_FROM_WIRE.get(f.type);
  if (!type) return refuse(`unknown type ${f.type}`);
  const aggregator = AGGREGATION_FROM_WIRE.get(f.aggregation);
  if (!aggregator) return refuse(`unknown aggregation ${f.aggregation}`);
  const names = new Set(SUFFIXES[type].map((s) => f.name + s));
  for (const s of f.samples) {
    if (!names.has(s.name)) return refuse(`sample ${s.name.slice(0, 200)} does not belong to it`);
    for (const label of Object.keys(s.labels)) if (!LABEL_NAME.test(label) || label.startsWith('__')) return refuse(`bad label name ${label.slice(0, 200)}`);
  }
  return {
    name: f.name,
    help: f.help,
    type,
    aggregator,
    values: f.samples.map((s) => ({ value: s.value, labels: goLabelOrder(s.labels), metricName: s.name })),
  };
}

/**
 * Labels in the order the kubelet's Prometheus client writes them: by name, then a
 * histogram's `le` or a summary's `quantile` last. Scrapers do not care; people
 * comparing a splitlet node's output with a kubelet's do.
 */
function goLabelOrder(labels: Record<string, string>): Record<string, string> {
  const last = (name: string) => (name === 'le' || name === 'quantile' ? 1 : 0);
  return Object.fromEntries(Object.entries(labels).sort(([a], [b]) => last(a) - last(b) || (a < b ? -1 : a > b ? 1 : 0)));
}

/** The families one service's replicas answered, and the names that service may answer for. */
export interface MetricsSource {
  replies: MetricFamily[][];
  /** Only families whose names start with one of these are taken (what the answering service owns). */
  prefixes: readonly string[];
  /** Names under those prefixes that another source owns. */
  except?: readonly string[];
}

/**
 * Merges the families every replica of every source answered into one Prometheus
 * text (0.0.4): series summed across replicas unless the family says otherwise
 * (prom-client's AggregatorRegistry.aggregate). A family that does not check out is
 * left out and named in `refused`; for a name two replicas give, the first's type and
 * help stand (so an earlier source wins a name).
 */
export async function mergeMetricFamilies(sources: MetricsSource[]): Promise<{ text: string; refused: RefusedFamily[] }> {
  const refused: RefusedFamily[] = [];
  const types = new Map<string, PromType>();
  const accepted = sources.flatMap(({ replies, prefixes, except = [] }) =>
    replies.map((families) =>
      families.flatMap((f) => {
        const checked = except.includes(f.name) ? { name: f.name, reason: 'not a metric of the answering service' } : checkFamily(f, { prefixes });
        if (!('type' in checked)) return refused.push(checked), [];
        // prom-client would sum a counter with another replica's gauge of the same name.
        const known = types.get(checked.name);
        if (known && known !== checked.type) return refused.push({ name: checked.name, reason: `type ${checked.type} where another replica has ${known}` }), [];
        types.set(checked.name, checked.type);
        return [checked];
      }),
    ),
  );
  const text = await AggregatorRegistry.aggregate(accepted).metrics();
  return { text, refused };
}
