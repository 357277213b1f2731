import { runCommand } from '@splitlet/testing';
import { allRunning, benchPod, sleep, UNTIL_SIGTERM } from '../kube';
import { deleteAndWait, withNamespace, type BenchContext } from '../context';
import { judge, type Figure, type ScenarioResult } from '../result';
import { startOwnNode, type NodeUnderTest, type ServiceLocation } from '../node';
import { cpuPercent, cpuTicks, pssKiB, rssKiB, ticksPerSecond } from '../proc';

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
  /** Proportional set size: shared pages (node's own binary, mapped by every service) divided among the processes (processes only). */
  pssMiB?: number;
  cpuPercent: number;
}

/**
 * Footprint: RSS and CPU of each of the node's services, idle and with N pods
 * running. Processes are read from /proc/<pid> (RSS = VmRSS; CPU = utime+stime over
 * the window, in % of one core); containers (a compose node) from `docker stats
 * --no-stream`.
 */
export async function footprint(ctx: BenchContext, opts: FootprintOptions): Promise<ScenarioResult> {
  return measureNode(ctx, ctx.node, opts, 'footprint');
}

/**
 * The same for the all-in-one node (SPLITLET_NODE_MODE=single): a second node of the
 * harness's, `<node>-one`, its five services in one process, started for this
 * scenario and stopped after it.
 */
export async function footprintSingle(ctx: BenchContext, opts: FootprintOptions): Promise<ScenarioResult> {
  const nodeName = `${ctx.node.nodeName}-one`;
  ctx.log(`footprint-single: starting the all-in-one node ${nodeName}`);
  const node = await startOwnNode(ctx.cluster, nodeName, ctx.log, ctx.cleanup, { mode: 'single' });
  try {
    return await measureNode(ctx, node, opts, 'footprint-single');
  } finally {
    await node.stop();
  }
}

const GOALS = {
  // issue 17: five separate services ≤ 400 MiB idle, ≤ 450 MiB with 100 pods, CPU ≤ 3 % of a core with 100 pods;
  // the all-in-one process ≤ 180 / 230 MiB.
  footprint: { idle: 400, loaded: 450 },
  'footprint-single': { idle: 180, loaded: 230 },
} as const;

async function measureNode(ctx: BenchContext, node: NodeUnderTest, opts: FootprintOptions, scenario: keyof typeof GOALS): Promise<ScenarioResult> {
  const startedAt = new Date();
  ctx.log(`${scenario}: idle (settle ${opts.settleMs / 1000} s, measure ${opts.windowMs / 1000} s)`);
  await sleep(opts.settleMs);
  const idle = await measure(await node.locate(), opts.windowMs);
  let loaded: ServiceUsage[] = [];
  let running = 0;
  await withNamespace(ctx, scenario, async (ns) => {
    ctx.log(`${scenario}: ${opts.pods} pods running`);
    const names = Array.from({ length: opts.pods }, (_, i) => `fp-${i}`);
    await Promise.all(names.map((n) => ns.create(benchPod(n, node.nodeName, UNTIL_SIGTERM))));
    const evs = await Promise.all(names.map((n) => ns.tracker.first(n, (e) => e.type !== 'DELETED' && allRunning(e.pod), opts.timeoutMs)));
    running = evs.filter(Boolean).length;
    await sleep(opts.settleMs);
    loaded = await measure(await node.locate(), opts.windowMs);
    await deleteAndWait(ctx, ns, names);
  });
  // The totals are the five services that run pods (issue 17's goals are for them);
  // node-api, when the node runs it, is in `details` and has its own scenario.
  const total = (u: ServiceUsage[], k: 'rssMiB' | 'pssMiB' | 'cpuPercent') =>
    Math.round(u.filter((s) => s.service !== 'node-api').reduce((a, s) => a + (s[k] ?? Number.NaN), 0) * 10) / 10;
  const what = scenario === 'footprint' ? 'all five services' : 'the all-in-one process (five services)';
  const goal = (max: number) => [{ stat: 'value' as const, max, source: '#17' }];
  const figures: Figure[] = [
    judge({ id: `${scenario}.idle.rss`, title: `RSS, ${what}, idle`, unit: 'MiB', value: total(idle, 'rssMiB'), goals: goal(GOALS[scenario].idle) }),
    judge({ id: `${scenario}.idle.cpu`, title: `CPU, ${what}, idle`, unit: '% of a core', value: total(idle, 'cpuPercent') }),
    judge({ id: `${scenario}.loaded.rss`, title: `RSS, ${what}, ${running} pods running`, unit: 'MiB', value: total(loaded, 'rssMiB'), goals: goal(GOALS[scenario].loaded) }),
    judge({ id: `${scenario}.loaded.cpu`, title: `CPU, ${what}, ${running} pods running`, unit: '% of a core', value: total(loaded, 'cpuPercent'), goals: goal(3) }),
    judge({ id: `${scenario}.idle.pss`, title: `PSS, ${what}, idle`, unit: 'MiB', value: total(idle, 'pssMiB') }),
    judge({ id: `${scenario}.loaded.pss`, title: `PSS, ${what}, ${running} pods running`, unit: 'MiB', value: total(loaded, 'pssMiB') }),
  ];
  return {
    scenario,
    title: scenario === 'footprint' ? 'Footprint' : 'Footprint, all-in-one node',
    figures,
    notes: [
      `CPU is averaged over a ${opts.windowMs / 1000} s window after ${opts.settleMs / 1000} s of settling; "loaded" is measured with the pods running, not while they start.`,
      'Docker itself (dockerd, containerd, the shims) is not counted: it is the same for any node agent on Docker.',
      'The totals are the five services that run pods (registrar, pod-sync, runtime-executor, prober, status-reporter), as issue 17 sets its goals; node-api, when the node runs it, is listed in details and measured in the node-api scenario.',
      'RSS counts the pages of the node binary each process touched (~55 MiB) once per process; PSS divides them among the processes that share them (what the processes cost the machine together).',
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
      pssMiB: Math.round(((await pssKiB(p.pid)) / 1024) * 10) / 10,
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
