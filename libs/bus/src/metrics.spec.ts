import { describe, expect, it } from 'vitest';
import { create } from '@bufbuild/protobuf';
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import { Aggregation, MetricFamilySchema, MetricType, type MetricFamily } from '@splitlet/contracts';
import { mergeMetricFamilies, metricFamilies } from './index';

/** One replica's registry: a probe counter, a probe duration histogram and a per-node gauge. */
function replicaRegistry(successes: number, durations: number[], nodeValue = 1) {
  const registry = new Registry();
  const total = new Counter({ name: 'prober_probe_total', help: 'probes', labelNames: ['probe_type', 'result'], registers: [registry] });
  total.inc({ probe_type: 'Readiness', result: 'successful' }, successes);
  const duration = new Histogram({ name: 'prober_probe_duration_seconds', help: 'durations', labelNames: ['probe_type'], registers: [registry] });
  for (const d of durations) duration.observe({ probe_type: 'Readiness' }, d);
  new Gauge({ name: 'prober_node', help: 'same on every replica', registers: [registry], aggregator: 'first' }).set(nodeValue);
  return registry;
}

const prefixes = ['prober_'];
const line = (text: string, prefix: string) => text.split('\n').filter((l) => l.startsWith(prefix));

describe('metrics families', () => {
  it('metrics - two replicas\' counters and histograms are summed, a "first" gauge taken once', async () => {
    const a = await metricFamilies(replicaRegistry(3, [0.003, 0.2]));
    const b = await metricFamilies(replicaRegistry(4, [0.3], 1));
    const { text, refused } = await mergeMetricFamilies([{ replies: [a, b], prefixes }]);
    expect(refused).toEqual([]);
    // As the kubelet's client writes them: labels by name (so probe_type before result), le last.
    expect(line(text, 'prober_probe_total')).toEqual(['prober_probe_total{probe_type="Readiness",result="successful"} 7']);
    expect(line(text, 'prober_probe_duration_seconds_count')).toEqual(['prober_probe_duration_seconds_count{probe_type="Readiness"} 3']);
    expect(line(text, 'prober_probe_duration_seconds_bucket{probe_type="Readiness",le="0.005"}')).toEqual(['prober_probe_duration_seconds_bucket{probe_type="Readiness",le="0.005"} 1']);
    expect(line(text, 'prober_probe_duration_seconds_bucket{probe_type="Readiness",le="0.25"}')).toEqual(['prober_probe_duration_seconds_bucket{probe_type="Readiness",le="0.25"} 2']);
    expect(line(text, 'prober_probe_duration_seconds_bucket{probe_type="Readiness",le="+Inf"}')).toEqual(['prober_probe_duration_seconds_bucket{probe_type="Readiness",le="+Inf"} 3']);
    expect(line(text, 'prober_node')).toEqual(['prober_node 1']);
    expect(text).toContain('# TYPE prober_probe_total counter');
    expect(text).toContain('# TYPE prober_probe_duration_seconds histogram');
  });

  it('metrics - label values are escaped as the text format wants', async () => {
    const family = create(MetricFamilySchema, { name: 'prober_x', help: 'h', type: MetricType.GAUGE, samples: [{ name: 'prober_x', labels: { pod: 'a"b\\c\nd' }, value: 1 }] });
    const { text } = await mergeMetricFamilies([{ replies: [[family]], prefixes }]);
    expect(line(text, 'prober_x{')).toEqual(['prober_x{pod="a\\"b\\\\c\\nd"} 1']);
  });

  const bad: [string, Partial<MetricFamily>][] = [
    ['a name that is no metric name', { name: 'prober x' }],
    ['a family outside the owner\'s prefix', { name: 'kubelet_running_pods' }],
    ['an unknown type', { type: 9 as MetricType }],
    ['an unknown aggregation', { aggregation: 7 as Aggregation }],
    ['a sample of another family', { samples: [{ $typeName: 'splitlet.metrics.v1.Sample', name: 'prober_other', labels: {}, value: 1 }] }],
    ['a bad label name', { samples: [{ $typeName: 'splitlet.metrics.v1.Sample', name: 'prober_y', labels: { 'bad-label': 'v' }, value: 1 }] }],
    ['a reserved label name', { samples: [{ $typeName: 'splitlet.metrics.v1.Sample', name: 'prober_y', labels: { __name__: 'v' }, value: 1 }] }],
  ];
  it.each(bad)('metrics - %s is left out, named in refused, and the rest is served', async (_what, change) => {
    const good = create(MetricFamilySchema, { name: 'prober_ok', help: 'h', type: MetricType.COUNTER, samples: [{ name: 'prober_ok', value: 2 }] });
    const family = { ...create(MetricFamilySchema, { name: 'prober_y', help: 'h', type: MetricType.GAUGE, samples: [{ name: 'prober_y', value: 1 }] }), ...change };
    const { text, refused } = await mergeMetricFamilies([{ replies: [[family, good]], prefixes }]);
    expect(refused).toHaveLength(1);
    expect(line(text, 'prober_ok')).toEqual(['prober_ok 2']);
    expect(text).not.toContain('prober_y');
  });

  it('metrics - a replica that gives a name another type than the first is left out for that name', async () => {
    const counter = create(MetricFamilySchema, { name: 'prober_z', help: 'h', type: MetricType.COUNTER, samples: [{ name: 'prober_z', value: 2 }] });
    const gauge = create(MetricFamilySchema, { name: 'prober_z', help: 'h', type: MetricType.GAUGE, samples: [{ name: 'prober_z', value: 5 }] });
    const { text, refused } = await mergeMetricFamilies([{ replies: [[counter], [gauge]], prefixes }]);
    expect(refused.map((r) => r.name)).toEqual(['prober_z']);
    expect(line(text, 'prober_z')).toEqual(['prober_z 2']);
  });

  it('metrics - each source keeps to its own prefixes: a name another source owns is refused', async () => {
    const own = create(MetricFamilySchema, { name: 'kubelet_node_name', help: 'h', type: MetricType.GAUGE, aggregation: Aggregation.FIRST, samples: [{ name: 'kubelet_node_name', labels: { node: 'n1' }, value: 1 }] });
    const forged = create(MetricFamilySchema, { name: 'kubelet_node_name', help: 'h', type: MetricType.GAUGE, samples: [{ name: 'kubelet_node_name', labels: { node: 'other' }, value: 1 }] });
    const { text, refused } = await mergeMetricFamilies([
      { replies: [[own]], prefixes: ['kubelet_node_name'] },
      { replies: [[forged]], prefixes: ['prober_'] },
    ]);
    expect(refused.map((r) => r.reason)).toEqual(['not a metric of the answering service']);
    expect(line(text, 'kubelet_node_name{')).toEqual(['kubelet_node_name{node="n1"} 1']);
  });
});
