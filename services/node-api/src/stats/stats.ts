import { readFile } from 'node:fs/promises';
import type { ServerResponse } from 'node:http';
import type { ServiceClient } from '@splitlet/bus';
import type { ContainerStats, RuntimeService } from '@splitlet/contracts';
import { nodeMemory, parseMeminfo } from '@splitlet/service';
import type { Logger } from '@splitlet/telemetry';
import type { PodSource } from '../logs/container-logs';

// The kubelet's resource statistics: /metrics/resource (what metrics-server scrapes for
// `kubectl top`, pkg/kubelet/metrics/collectors/resource_metrics.go) and /stats/summary
// (k8s.io/kubelet/pkg/apis/stats/v1alpha1 Summary, its cpu and memory parts). Containers'
// figures come from runtime-executor (ListContainerStats, Docker's stats), the node's from
// /proc, as cAdvisor counts the root cgroup: CPU time but idle, memory in use less the
// inactive file cache.

const LABEL_POD = 'io.kubernetes.pod.name';
const LABEL_NAMESPACE = 'io.kubernetes.pod.namespace';
const LABEL_UID = 'io.kubernetes.pod.uid';
const LABEL_CONTAINER = 'io.kubernetes.container.name';

/** The node's cumulative CPU time and memory, sampled now. */
export interface NodeSample {
  /** Unix milliseconds. */
  at: number;
  cpuSeconds: number;
  memoryWorkingSetBytes: number;
  memoryUsageBytes: number;
  memoryAvailableBytes: number;
  /** Unix milliseconds the node booted. */
  bootTime: number;
}

/** /proc/stat's and /proc/meminfo's figures, as cAdvisor reads the root cgroup's. */
export async function readNodeSample(procRoot = '/proc', now = Date.now()): Promise<NodeSample> {
  const [stat, meminfo] = await Promise.all([readFile(`${procRoot}/stat`, 'utf8'), readFile(`${procRoot}/meminfo`, 'utf8')]);
  return parseNodeSample(stat, meminfo, now);
}

export function parseNodeSample(stat: string, meminfo: string, now: number): NodeSample {
  // cpu  user nice system idle iowait irq softirq steal …, in USER_HZ (100 on Linux).
  const cpu = /^cpu\s+(.*)$/m.exec(stat)?.[1]?.trim().split(/\s+/).map(Number) ?? [];
  const [user = 0, nice = 0, system = 0, , , irq = 0, softirq = 0, steal = 0] = cpu;
  const btime = Number(/^btime\s+(\d+)$/m.exec(stat)?.[1] ?? 0);
  const mem = nodeMemory(parseMeminfo(meminfo));
  return {
    at: now,
    cpuSeconds: (user + nice + system + irq + softirq + steal) / 100,
    memoryUsageBytes: Number(mem.usageBytes),
    memoryWorkingSetBytes: Number(mem.workingSetBytes),
    // capacity less the working set: registrar's memory.available eviction signal too
    memoryAvailableBytes: Number(mem.availableBytes),
    bootTime: btime * 1000,
  };
}

export interface StatsDeps {
  nodeName: string;
  pods: PodSource;
  runtime: ServiceClient<typeof RuntimeService>;
  logger: Logger;
  /** Where the host's /proc is (tests give a fixture). */
  procRoot?: string;
}

interface Sampled {
  node: NodeSample;
  containers: ContainerStats[];
  /** Set when the containers could not be read (the node's figures still are). */
  error?: string;
}

async function sample(deps: StatsDeps): Promise<Sampled> {
  const node = await readNodeSample(deps.procRoot);
  try {
    // Only containers of pods this node runs, as the kubelet reports only its pods'.
    const { stats } = await deps.runtime.listContainerStats({});
    return {
      node,
      containers: stats.filter((c) => c.labels[LABEL_CONTAINER] && c.labels[LABEL_UID] && deps.pods.get(c.labels[LABEL_NAMESPACE] ?? '', c.labels[LABEL_POD] ?? '')?.metadata?.uid === c.labels[LABEL_UID]),
    };
  } catch (err) {
    deps.logger.warn({ err: (err as Error).message }, 'container stats unavailable');
    return { node, containers: [], error: (err as Error).message };
  }
}

const seconds = (ns: bigint) => Number(ns) / 1e9;
const millis = (ns: bigint) => Math.round(Number(ns) / 1e6);
/** Prometheus text's label value escaping. */
const quote = (v: string) => `"${v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"')}"`;
/** Go's shortest float format, as the Prometheus client writes values. */
const num = (v: number) => String(v);

/** GET /metrics/resource: the kubelet's resource metrics, Prometheus text, each sample with its time. */
export async function serveResourceMetrics(deps: StatsDeps, res: ServerResponse): Promise<void> {
  const s = await sample(deps);
  const out: string[] = [];
  const family = (name: string, type: 'counter' | 'gauge', help: string, rows: string[]) => {
    out.push(`# HELP ${name} [STABLE] ${help}`, `# TYPE ${name} ${type}`, ...rows);
  };
  const cLabels = (c: ContainerStats) => `{container=${quote(c.labels[LABEL_CONTAINER]!)},namespace=${quote(c.labels[LABEL_NAMESPACE]!)},pod=${quote(c.labels[LABEL_POD]!)}}`;
  const byPod = new Map<string, { labels: string; cpu: number; mem: number; at: number }>();
  for (const c of s.containers) {
    const key = `${c.labels[LABEL_NAMESPACE]}/${c.labels[LABEL_POD]}`;
    const p = byPod.get(key) ?? { labels: `{namespace=${quote(c.labels[LABEL_NAMESPACE]!)},pod=${quote(c.labels[LABEL_POD]!)}}`, cpu: 0, mem: 0, at: 0 };
    p.cpu += seconds(c.usageCoreNanoSeconds);
    p.mem += Number(c.memoryWorkingSetBytes);
    p.at = Math.max(p.at, millis(c.timestamp));
    byPod.set(key, p);
  }
  family('container_cpu_usage_seconds_total', 'counter', 'Cumulative cpu time consumed by the container in core-seconds', s.containers.map((c) => `container_cpu_usage_seconds_total${cLabels(c)} ${num(seconds(c.usageCoreNanoSeconds))} ${millis(c.timestamp)}`));
  family('container_memory_working_set_bytes', 'gauge', 'Current working set of the container in bytes', s.containers.map((c) => `container_memory_working_set_bytes${cLabels(c)} ${c.memoryWorkingSetBytes} ${millis(c.timestamp)}`));
  family('container_start_time_seconds', 'gauge', 'Start time of the container since unix epoch in seconds', s.containers.map((c) => `container_start_time_seconds${cLabels(c)} ${num(seconds(c.startedAt))} ${millis(c.startedAt)}`));
  family('node_cpu_usage_seconds_total', 'counter', 'Cumulative cpu time consumed by the node in core-seconds', [`node_cpu_usage_seconds_total ${num(s.node.cpuSeconds)} ${s.node.at}`]);
  family('node_memory_working_set_bytes', 'gauge', 'Current working set of the node in bytes', [`node_memory_working_set_bytes ${s.node.memoryWorkingSetBytes} ${s.node.at}`]);
  family('pod_cpu_usage_seconds_total', 'counter', 'Cumulative cpu time consumed by the pod in core-seconds', [...byPod.values()].map((p) => `pod_cpu_usage_seconds_total${p.labels} ${num(p.cpu)} ${p.at}`));
  family('pod_memory_working_set_bytes', 'gauge', 'Current working set of the pod in bytes', [...byPod.values()].map((p) => `pod_memory_working_set_bytes${p.labels} ${p.mem} ${p.at}`));
  family('resource_scrape_error', 'gauge', '1 if there was an error while getting container metrics, 0 otherwise', [`resource_scrape_error ${s.error ? 1 : 0}`]);
  res.writeHead(200, { 'Content-Type': 'text/plain; version=0.0.4; charset=utf-8' });
  res.end(`${out.join('\n')}\n`);
}

/** CPU usage rates need two samples: the previous cumulative figure of each container and of the node. */
export class CpuRates {
  private readonly last = new Map<string, { ns: bigint; at: bigint }>();

  /** nano-cores between the previous sample of `key` and this one; undefined for the first. */
  rate(key: string, ns: bigint, at: bigint): number | undefined {
    const prev = this.last.get(key);
    this.last.set(key, { ns, at });
    if (this.last.size > 10_000) this.last.delete(this.last.keys().next().value!);
    if (!prev || at <= prev.at || ns < prev.ns) return undefined;
    return Math.round((Number(ns - prev.ns) / Number(at - prev.at)) * 1e9);
  }
}

/**
 * A time as the Summary's JSON shows it (RFC 3339, seconds); undefined — the field left
 * out — for one no Date can hold (an unparsable time: a Summary of the rest beats a 500
 * for all).
 */
const iso = (ms: number): string | undefined => {
  const d = new Date(ms);
  return Number.isNaN(d.getTime()) ? undefined : d.toISOString().replace(/\.\d{3}Z$/, 'Z');
};

/** GET /stats/summary: the kubelet's Summary (node, and each pod of the node with its containers), cpu and memory. */
export async function serveStatsSummary(deps: StatsDeps, rates: CpuRates, res: ServerResponse): Promise<void> {
  const s = await sample(deps);
  const nodeNs = BigInt(Math.round(s.node.cpuSeconds * 1e9));
  const nodeAt = BigInt(s.node.at) * 1_000_000n;
  const cpu = (key: string, ns: bigint, at: bigint) => {
    const r = rates.rate(key, ns, at);
    return { time: iso(millis(at)), usageCoreNanoSeconds: Number(ns), ...(r === undefined ? {} : { usageNanoCores: r }) };
  };
  const pods = new Map<string, { ref: { name: string; namespace: string; uid: string }; containers: ContainerStats[] }>();
  for (const c of s.containers) {
    const uid = c.labels[LABEL_UID] ?? '';
    const p = pods.get(uid) ?? { ref: { name: c.labels[LABEL_POD]!, namespace: c.labels[LABEL_NAMESPACE]!, uid }, containers: [] };
    p.containers.push(c);
    pods.set(uid, p);
  }
  const summary = {
    node: {
      nodeName: deps.nodeName,
      startTime: iso(s.node.bootTime),
      cpu: cpu('node', nodeNs, nodeAt),
      memory: { time: iso(s.node.at), availableBytes: s.node.memoryAvailableBytes, usageBytes: s.node.memoryUsageBytes, workingSetBytes: s.node.memoryWorkingSetBytes },
    },
    pods: [...pods.values()].map((p) => {
      const api = deps.pods.get(p.ref.namespace, p.ref.name);
      const at = p.containers.reduce((m, c) => (c.timestamp > m ? c.timestamp : m), 0n);
      const ns = p.containers.reduce((sum, c) => sum + c.usageCoreNanoSeconds, 0n);
      return {
        podRef: p.ref,
        startTime: api?.status?.startTime ? iso(new Date(api.status.startTime).getTime()) : iso(millis(p.containers.reduce((m, c) => (m === 0n || c.startedAt < m ? c.startedAt : m), 0n))),
        containers: p.containers.map((c) => ({
          name: c.labels[LABEL_CONTAINER],
          startTime: iso(millis(c.startedAt)),
          cpu: cpu(`c/${c.id}`, c.usageCoreNanoSeconds, c.timestamp),
          memory: { time: iso(millis(c.timestamp)), usageBytes: Number(c.memoryUsageBytes), workingSetBytes: Number(c.memoryWorkingSetBytes), rssBytes: Number(c.memoryRssBytes) },
        })),
        cpu: cpu(`p/${p.ref.uid}`, ns, at),
        memory: {
          time: iso(millis(at)),
          usageBytes: p.containers.reduce((sum, c) => sum + Number(c.memoryUsageBytes), 0),
          workingSetBytes: p.containers.reduce((sum, c) => sum + Number(c.memoryWorkingSetBytes), 0),
          rssBytes: p.containers.reduce((sum, c) => sum + Number(c.memoryRssBytes), 0),
        },
      };
    }),
  };
  res.writeHead(200, { 'Content-Type': 'application/json' });
  res.end(`${JSON.stringify(summary)}\n`);
}
