import { mkdtempSync, writeFileSync } from 'node:fs';
import type { ServerResponse } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { V1Pod } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import type { ServiceClient } from '@splitlet/bus';
import { ContainerStatsSchema, create, type RuntimeService } from '@splitlet/contracts';
import { createLogger } from '@splitlet/telemetry';
import type { PodSource } from '../logs/container-logs';
import { CpuRates, parseNodeSample, serveResourceMetrics, serveStatsSummary, type StatsDeps } from './stats';

const STAT = 'cpu  1000 50 250 90000 30 10 15 5 0 0\ncpu0 500 25 125 45000 15 5 7 2 0 0\nbtime 1764700000\n';
const MEMINFO = 'MemTotal:       4000000 kB\nMemFree:        1000000 kB\nMemAvailable:   2500000 kB\nInactive(file):  500000 kB\n';

const pod = (name: string, uid: string): V1Pod => ({ metadata: { name, namespace: 'ns', uid }, spec: { containers: [] }, status: { startTime: new Date('2026-12-03T10:00:00Z') } });
const pods: PodSource = { get: (ns, name) => (ns === 'ns' && name === 'web' ? pod('web', 'u1') : undefined), list: () => [pod('web', 'u1')] };
const labels = (podName: string, uid: string, container: string) => ({ 'io.kubernetes.pod.name': podName, 'io.kubernetes.pod.namespace': 'ns', 'io.kubernetes.pod.uid': uid, 'io.kubernetes.container.name': container });
const s = (id: string, l: Record<string, string>, cpuNs: bigint, at: bigint) =>
  create(ContainerStatsSchema, { id, labels: l, timestamp: at, startedAt: 1_764_750_000_000_000_000n, usageCoreNanoSeconds: cpuNs, memoryWorkingSetBytes: 3_000_000n, memoryUsageBytes: 4_000_000n, memoryRssBytes: 2_000_000n });

function deps(samples: () => ReturnType<typeof s>[] | Error): StatsDeps {
  const proc = mkdtempSync(join(tmpdir(), 'node-api-proc-'));
  writeFileSync(join(proc, 'stat'), STAT);
  writeFileSync(join(proc, 'meminfo'), MEMINFO);
  const runtime = {
    listContainerStats: async () => {
      const r = samples();
      if (r instanceof Error) throw r;
      return { stats: r };
    },
  } as unknown as ServiceClient<typeof RuntimeService>;
  return { nodeName: 'node-a', pods, runtime, logger: createLogger('node-api', { level: 'silent' }), procRoot: proc };
}

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

describe('stats', () => {
  it('parseNodeSample - CPU time but idle and iowait in seconds, memory in use less the inactive file cache, available = capacity less that', () => {
    expect(parseNodeSample(STAT, MEMINFO, 42)).toEqual({
      at: 42,
      cpuSeconds: (1000 + 50 + 250 + 10 + 15 + 5) / 100,
      memoryUsageBytes: 3_000_000 * 1024,
      memoryWorkingSetBytes: 2_500_000 * 1024,
      // As the kubelet's Summary: capacity less the working set (not MemAvailable).
      memoryAvailableBytes: 1_500_000 * 1024,
      bootTime: 1_764_700_000_000,
    });
  });

  it('serveResourceMetrics - the kubelet\'s metric names and labels for containers, pods and the node; only the node\'s pods', async () => {
    const at = 1_764_760_000_123_000_000n;
    const res = response();
    await serveResourceMetrics(
      deps(() => [s('c1', labels('web', 'u1', 'app'), 2_500_000_000n, at), s('c2', labels('web', 'u1', 'side'), 500_000_000n, at), s('c3', labels('web', 'other-uid', 'app'), 1n, at), s('c4', {}, 1n, at)]),
      res,
    );
    expect(res.status).toBe(200);
    const lines = res.body.split('\n');
    expect(lines).toContain('# TYPE container_cpu_usage_seconds_total counter');
    expect(lines).toContain('container_cpu_usage_seconds_total{container="app",namespace="ns",pod="web"} 2.5 1764760000123');
    expect(lines).toContain('container_memory_working_set_bytes{container="side",namespace="ns",pod="web"} 3000000 1764760000123');
    expect(lines).toContain('container_start_time_seconds{container="app",namespace="ns",pod="web"} 1764750000 1764750000000');
    expect(lines).toContain('pod_cpu_usage_seconds_total{namespace="ns",pod="web"} 3 1764760000123');
    expect(lines).toContain('pod_memory_working_set_bytes{namespace="ns",pod="web"} 6000000 1764760000123');
    expect(lines.find((l) => l.startsWith('node_cpu_usage_seconds_total '))).toMatch(/^node_cpu_usage_seconds_total 13\.3 \d+$/);
    expect(lines.find((l) => l.startsWith('node_memory_working_set_bytes '))).toMatch(/^node_memory_working_set_bytes 2560000000 \d+$/);
    expect(lines).toContain('resource_scrape_error 0');
    // A container of a pod the node does not run (another uid, or no pod labels) is not reported.
    expect(res.body.match(/^container_cpu_usage_seconds_total\{/gm)).toHaveLength(2);
  });

  it('serveResourceMetrics - runtime-executor away: the node\'s figures and resource_scrape_error 1', async () => {
    const res = response();
    await serveResourceMetrics(deps(() => new Error('no responders')), res);
    expect(res.body).toContain('resource_scrape_error 1');
    expect(res.body).toMatch(/^node_cpu_usage_seconds_total /m);
    expect(res.body).not.toMatch(/^container_/m);
  });

  it('serveStatsSummary - the Summary\'s node and pods; usageNanoCores from the second sample on', async () => {
    let round = 0;
    const d = deps(() => {
      round++;
      return [s('c1', labels('web', 'u1', 'app'), round === 1 ? 1_000_000_000n : 1_500_000_000n, round === 1 ? 10_000_000_000n : 12_000_000_000n)];
    });
    const rates = new CpuRates();
    const first = response();
    await serveStatsSummary(d, rates, first);
    const a = JSON.parse(first.body);
    expect(a.node).toMatchObject({ nodeName: 'node-a', memory: { workingSetBytes: 2_560_000_000, availableBytes: 1_536_000_000 } });
    expect(a.pods).toHaveLength(1);
    expect(a.pods[0]).toMatchObject({ podRef: { name: 'web', namespace: 'ns', uid: 'u1' }, startTime: '2026-12-03T10:00:00Z', memory: { workingSetBytes: 3_000_000 } });
    expect(a.pods[0].containers[0]).toMatchObject({ name: 'app', cpu: { usageCoreNanoSeconds: 1_000_000_000 }, memory: { workingSetBytes: 3_000_000, rssBytes: 2_000_000 } });
    expect(a.pods[0].containers[0].cpu.usageNanoCores).toBeUndefined();
    const second = response();
    await serveStatsSummary(d, rates, second);
    // 0.5 s of CPU over 2 s: a quarter of a core.
    expect(JSON.parse(second.body).pods[0].containers[0].cpu.usageNanoCores).toBe(250_000_000);
  });

  it('serveStatsSummary - a pod startTime no date can hold is left out; the rest is served', async () => {
    const d = deps(() => [s('c1', labels('web', 'u1', 'app'), 1n, 2_000_000_000n)]);
    const broken: PodSource = { get: () => ({ ...pod('web', 'u1'), status: { startTime: new Date('not a date') } }), list: () => [pod('web', 'u1')] };
    const res = response();
    await serveStatsSummary({ ...d, pods: broken }, new CpuRates(), res);
    expect(res.status).toBe(200);
    const p = JSON.parse(res.body).pods[0];
    expect(p.startTime).toBeUndefined();
    expect(p.containers[0]).toMatchObject({ name: 'app', startTime: '2025-12-03T08:20:00Z', cpu: { usageCoreNanoSeconds: 1 } });
  });
});
