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
  const [idle, idleRuntime] = await measureWithRuntime(node, opts.windowMs);
  let loaded: ServiceUsage[] = [];
  let loadedRuntime: ServiceUsage[] = [];
  let running = 0;
  await withNamespace(ctx, scenario, async (ns) => {
    ctx.log(`${scenario}: ${opts.pods} pods running`);
    const names = Array.from({ length: opts.pods }, (_, i) => `fp-${i}`);
    await Promise.all(names.map((n) => ns.create(benchPod(n, node.nodeName, UNTIL_SIGTERM))));
    const evs = await Promise.all(names.map((n) => ns.tracker.first(n, (e) => e.type !== 'DELETED' && allRunning(e.pod), opts.timeoutMs)));
    running = evs.filter(Boolean).length;
    await sleep(opts.settleMs);
    [loaded, loadedRuntime] = await measureWithRuntime(node, opts.windowMs);
    await deleteAndWait(ctx, ns, names);
  });
  // The totals are the five services that run pods (issue 17's goals are for them);
  // node-api, when the node runs it, is in `details` and has its own scenario.
  const total = (u: ServiceUsage[], k: 'rssMiB' | 'pssMiB' | 'cpuPercent') =>
    Math.round(u.filter((s) => s.service !== 'node-api').reduce((a, s) => a + (s[k] ?? Number.NaN), 0) * 10) / 10;
  const what = node.agent === 'kubelet' ? 'the kubelet' : scenario === 'footprint' ? 'all five services' : 'the all-in-one process (five services)';
  // issue 17's goals are splitlet's; the reference kubelet is measured beside it (issue 18).
  const goal = (max: number) => (node.agent === 'kubelet' ? undefined : [{ stat: 'value' as const, max, source: '#17' }]);
  const runtimeName = node.agent === 'kubelet' ? 'containerd' : 'Docker';
  const figures: Figure[] = [
    judge({ id: `${scenario}.idle.rss`, title: `RSS, ${what}, idle`, unit: 'MiB', value: total(idle, 'rssMiB'), goals: goal(GOALS[scenario].idle) }),
    judge({ id: `${scenario}.idle.cpu`, title: `CPU, ${what}, idle`, unit: '% of a core', value: total(idle, 'cpuPercent') }),
    judge({ id: `${scenario}.loaded.rss`, title: `RSS, ${what}, ${running} pods running`, unit: 'MiB', value: total(loaded, 'rssMiB'), goals: goal(GOALS[scenario].loaded) }),
    judge({ id: `${scenario}.loaded.cpu`, title: `CPU, ${what}, ${running} pods running`, unit: '% of a core', value: total(loaded, 'cpuPercent'), goals: goal(3) }),
    judge({ id: `${scenario}.idle.pss`, title: `PSS, ${what}, idle`, unit: 'MiB', value: total(idle, 'pssMiB') }),
    judge({ id: `${scenario}.loaded.pss`, title: `PSS, ${what}, ${running} pods running`, unit: 'MiB', value: total(loaded, 'pssMiB') }),
    judge({ id: `${scenario}.idle.rss+runtime`, title: `RSS, ${what} + ${runtimeName} (daemons and the node's shims), idle`, unit: 'MiB', value: sum([total(idle, 'rssMiB'), total(idleRuntime, 'rssMiB')]) }),
    judge({ id: `${scenario}.loaded.rss+runtime`, title: `RSS, ${what} + ${runtimeName} (daemons and the node's shims), ${running} pods running`, unit: 'MiB', value: sum([total(loaded, 'rssMiB'), total(loadedRuntime, 'rssMiB')]) }),
    judge({ id: `${scenario}.loaded.cpu+runtime`, title: `CPU, ${what} + ${runtimeName}, ${running} pods running`, unit: '% of a core', value: sum([total(loaded, 'cpuPercent'), total(loadedRuntime, 'cpuPercent')]) }),
  ];
  return {
    scenario,
    title: scenario === 'footprint' ? 'Footprint' : 'Footprint, all-in-one node',
    figures,
    notes: [
      `CPU is averaged over a ${opts.windowMs / 1000} s window after ${opts.settleMs / 1000} s of settling; "loaded" is measured with the pods running, not while they start.`,
      'The agent figures leave the runtime out (dockerd, containerd, the shims: the same for any node agent on Docker); the "+ runtime" figures add the daemons and the shims of this node\'s containers (a splitlet node: dockerd, Docker\'s containerd, one shim per container; the reference node: its containerd, one shim per pod). Docker\'s daemons also serve the lab\'s own containers (registry, Jaeger).',
      'The totals are the five services that run pods (registrar, pod-sync, runtime-executor, prober, status-reporter), as issue 17 sets its goals; node-api, when the node runs it, is listed in details and measured in the node-api scenario.',
      'RSS counts the pages of the node binary each process touched (~55 MiB) once per process; PSS divides them among the processes that share them (what the processes cost the machine together).',
    ],
    details: { idle, loaded, idleRuntime: summarizeRuntime(idleRuntime), loadedRuntime: summarizeRuntime(loadedRuntime), podsRunning: running },
    startedAt: startedAt.toISOString(),
    durationMs: Date.now() - startedAt.getTime(),
  };
}

const sum = (xs: number[]) => Math.round(xs.reduce((a, x) => a + x, 0) * 10) / 10;

/** The agent's and the runtime's usage over the same window. */
async function measureWithRuntime(node: NodeUnderTest, windowMs: number): Promise<[ServiceUsage[], ServiceUsage[]]> {
  const [agent, runtime] = await Promise.all([node.locate(), node.runtime()]);
  const all = await measure([...agent, ...runtime.map((r) => ({ ...r, service: `runtime:${r.service}` }))], windowMs);
  return [all.filter((u) => !u.service.startsWith('runtime:')), all.filter((u) => u.service.startsWith('runtime:')).map((u) => ({ ...u, service: u.service.slice('runtime:'.length) }))];
}

/** The runtime's processes by kind (the shims summed: one per container or per pod). */
function summarizeRuntime(u: ServiceUsage[]): { service: string; processes: number; rssMiB: number; cpuPercent: number }[] {
  const by = new Map<string, { service: string; processes: number; rssMiB: number; cpuPercent: number }>();
  for (const x of u) {
    const e = by.get(x.service) ?? { service: x.service, processes: 0, rssMiB: 0, cpuPercent: 0 };
    e.processes++;
    e.rssMiB = Math.round((e.rssMiB + x.rssMiB) * 10) / 10;
    e.cpuPercent = Math.round((e.cpuPercent + x.cpuPercent) * 100) / 100;
    by.set(x.service, e);
  }
  return [...by.values()];
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
