import { runCommand } from '@splitlet/testing';
import { allRunning, benchPod, sleep, UNTIL_SIGTERM } from '../kube';
import { deleteAndWait, withNamespace, type BenchContext } from '../context';
import { judge, type Figure, type ScenarioResult } from '../result';
import type { ServiceLocation } from '../node';
import { cpuPercent, cpuTicks, rssKiB, ticksPerSecond } from '../proc';

export interface FootprintOptions {
  pods: number;
  windowMs: number;
  settleMs: number;
  timeoutMs: number;
}

export interface ServiceUsage {
  service: string;
  where: string;
  rssMiB: number;
  cpuPercent: number;
}

/**
 * Footprint: RSS and CPU of each of the node's services, idle and with N pods
 * running. Processes are read from /proc/<pid> (RSS = VmRSS; CPU = utime+stime over
 * the window, in % of one core); containers (a compose node) from `docker stats
 * --no-stream`.
 */
export async function footprint(ctx: BenchContext, opts: FootprintOptions): Promise<ScenarioResult> {
  const startedAt = new Date();
  ctx.log(`footprint: idle (settle ${opts.settleMs / 1000} s, measure ${opts.windowMs / 1000} s)`);
  await sleep(opts.settleMs);
  const idle = await measure(await ctx.node.locate(), opts.windowMs);
  let loaded: ServiceUsage[] = [];
  let running = 0;
  await withNamespace(ctx, 'footprint', async (ns) => {
    ctx.log(`footprint: ${opts.pods} pods running`);
    const names = Array.from({ length: opts.pods }, (_, i) => `fp-${i}`);
    await Promise.all(names.map((n) => ns.create(benchPod(n, ctx.node.nodeName, UNTIL_SIGTERM))));
    const evs = await Promise.all(names.map((n) => ns.tracker.first(n, (e) => e.type !== 'DELETED' && allRunning(e.pod), opts.timeoutMs)));
    running = evs.filter(Boolean).length;
    await sleep(opts.settleMs);
    loaded = await measure(await ctx.node.locate(), opts.windowMs);
    await deleteAndWait(ctx, ns, names);
  });
  // The totals are the five services that run pods (issue 17's goals are for them);
  // node-api, when the node runs it, is in `details` and has its own scenario.
  const total = (u: ServiceUsage[], k: 'rssMiB' | 'cpuPercent') =>
    Math.round(u.filter((s) => s.service !== 'node-api').reduce((a, s) => a + s[k], 0) * 10) / 10;
  const figures: Figure[] = [
    judge({ id: 'footprint.idle.rss', title: 'RSS, all five services, idle', unit: 'MiB', value: total(idle, 'rssMiB') }),
    judge({ id: 'footprint.idle.cpu', title: 'CPU, all five services, idle', unit: '% of a core', value: total(idle, 'cpuPercent') }),
    judge({ id: 'footprint.loaded.rss', title: `RSS, all five services, ${running} pods running`, unit: 'MiB', value: total(loaded, 'rssMiB') }),
    judge({ id: 'footprint.loaded.cpu', title: `CPU, all five services, ${running} pods running`, unit: '% of a core', value: total(loaded, 'cpuPercent') }),
  ];
  return {
    scenario: 'footprint',
    title: 'Footprint',
    figures,
    notes: [
      `CPU is averaged over a ${opts.windowMs / 1000} s window after ${opts.settleMs / 1000} s of settling; "loaded" is measured with the pods running, not while they start.`,
      'Docker itself (dockerd, containerd, the shims) is not counted: it is the same for any node agent on Docker.',
      'The totals are the five services that run pods (registrar, pod-sync, runtime-executor, prober, status-reporter), as issue 17 sets its goals; node-api, when the node runs it, is listed in details and measured in the node-api scenario.',
      'No goal is set in the issues for these figures.',
    ],
    details: { idle, loaded, podsRunning: running },
    startedAt: startedAt.toISOString(),
    durationMs: Date.now() - startedAt.getTime(),
  };
}

/** Usage of each located service over windowMs. */
export async function measure(locations: ServiceLocation[], windowMs: number): Promise<ServiceUsage[]> {
  const procs = locations.filter((l): l is { service: string; pid: number } => 'pid' in l);
  const containers = locations.filter((l): l is { service: string; container: string } => 'container' in l);
  const hz = await ticksPerSecond();
  const before = await Promise.all(procs.map((p) => cpuTicks(p.pid)));
  const t0 = performance.now();
  const [dockerStats] = await Promise.all([containers.length ? dockerUsage(containers) : Promise.resolve([]), sleep(windowMs)]);
  const elapsedS = (performance.now() - t0) / 1000;
  const after = await Promise.all(procs.map((p) => cpuTicks(p.pid)));
  const fromProc = await Promise.all(
    procs.map(async (p, i) => ({
      service: p.service,
      where: `pid ${p.pid}`,
      rssMiB: Math.round(((await rssKiB(p.pid)) / 1024) * 10) / 10,
      cpuPercent: cpuPercent(after[i]! - before[i]!, hz, elapsedS),
    })),
  );
  return [...fromProc, ...dockerStats].sort((a, b) => a.service.localeCompare(b.service));
}

async function dockerUsage(containers: { service: string; container: string }[]): Promise<ServiceUsage[]> {
  const r = await runCommand('docker', ['stats', '--no-stream', '--format', '{{.ID}}\t{{.CPUPerc}}\t{{.MemUsage}}', ...containers.map((c) => c.container)]);
  const rows = r.stdout.split('\n').filter(Boolean).map((l) => l.split('\t'));
  return containers.map((c) => {
    const row = rows.find((x) => c.container.startsWith(x[0] ?? '-'));
    return {
      service: c.service,
      where: `container ${c.container.slice(0, 12)}`,
      rssMiB: row ? toMiB(row[2]?.split('/')[0]?.trim() ?? '') : Number.NaN,
      cpuPercent: row ? Number.parseFloat(row[1] ?? '') : Number.NaN,
    };
  });
}

function toMiB(s: string): number {
  const m = /^([\d.]+)\s*([KMG]i?B|B)$/.exec(s);
  if (!m) return Number.NaN;
  const scale: Record<string, number> = { B: 1 / 1048576, KiB: 1 / 1024, KB: 1 / 1024, MiB: 1, MB: 1, GiB: 1024, GB: 1024 };
  return Math.round(Number(m[1]) * (scale[m[2]!] ?? Number.NaN) * 10) / 10;
}
