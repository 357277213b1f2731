// `npm run bench`: the speed and footprint of a splitlet node (issue 9). See bench/README.md.
import { existsSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { dirname, join, relative } from 'node:path';
import { Command, Option } from 'commander';
import { labEnv, workspaceRoot } from '@splitlet/testing';
import { Cleanup, type BenchContext } from './src/context';
import { connectCluster, randomSuffix } from './src/kube';
import { existingNode, referenceNode, startOwnNode, waitNodeReady, type NodeUnderTest } from './src/node';
import { footprintSpec, latencySpec, readKept, renderSvg, runInfo, writeResults } from './src/report';
import type { ScenarioResult } from './src/result';
import { comparisonTable, summaryTable } from './src/table';
import { apiRequests } from './src/scenarios/api-requests';
import { deletion } from './src/scenarios/deletion';
import { eviction } from './src/scenarios/eviction';
import { footprint, footprintSingle } from './src/scenarios/footprint';
import { coldStart } from './src/scenarios/cold-start';
import { soak } from './src/scenarios/soak';
import { rollover } from './src/scenarios/rollover';
import { freshness } from './src/scenarios/freshness';
import { natsLatency } from './src/scenarios/nats';
import { nodeApi } from './src/scenarios/node-api';
import { startup } from './src/scenarios/startup';
import { runtimeAlone } from './src/scenarios/runtime';

const SCENARIOS = ['startup', 'freshness', 'deletion', 'footprint', 'footprint-single', 'cold-start', 'api-requests', 'nats', 'node-api', 'eviction', 'runtime', 'soak', 'rollover'] as const;
/** Run only when asked for (--only): half an hour by default. */
const ON_REQUEST: readonly string[] = ['soak', 'rollover'];
/** What --reference runs on the upstream kubelet too: the scenarios that measure a node through the API server and /proc. */
const ON_REFERENCE: readonly string[] = ['footprint', 'startup', 'freshness', 'deletion', 'api-requests', 'runtime'];
type Scenario = (typeof SCENARIOS)[number];

const int = (v: string) => {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0) throw new Error(`not a count: ${v}`);
  return n;
};
const list = (v: string) => v.split(',').map((s) => s.trim()).filter(Boolean);

const root = workspaceRoot();
// A worktree has no .lab of its own: use the lab that `lab.sh env` points at.
if (!process.env['LAB_DIR'] && !existsSync(join(root, '.lab', 'bin')) && process.env['KUBECONFIG_ADMIN']) {
  process.env['LAB_DIR'] = dirname(process.env['KUBECONFIG_ADMIN']);
}

const program = new Command('bench')
  .description('Measures a splitlet node (or any node agent registered under --node) through the API server, /proc or Docker, and NATS.')
  .option('--kubeconfig <path>', 'admin kubeconfig (default: the lab\'s)')
  .option('--node <name>', 'node name (default: bench-<hex>, a node the harness starts)')
  .option('--no-start', 'measure an already running node named --node instead of starting one')
  .option('--nats-url <url>', 'the node\'s NATS (nats scenario)', process.env['NATS_URL'] ?? 'nats://127.0.0.1:4222')
  .addOption(new Option('--only <scenarios>', `comma-separated subset of ${SCENARIOS.join(',')}`).argParser(list))
  .addOption(new Option('--skip <scenarios>', 'comma-separated scenarios to leave out').argParser(list))
  .option('--sequential <n>', 'startup: pods one after another', int, 50)
  .option('--burst <n>', 'startup: pods created at once', int, 100)
  .option('--throughput <n>', 'startup: pods created at --qps', int, 100)
  .option('--qps <n>', 'startup: creation rate of the throughput run (pods/s); runtime: its start rate', int, 5)
  .option('--runtime-pods <n>', 'runtime: pods started straight through the node\'s runtime at --qps, the agent frozen', int, 100)
  .option('--exits <n>', 'freshness: containers that exit at a known second', int, 20)
  .option('--readiness <n>', 'freshness: containers that turn ready at a known second', int, 10)
  .option('--deletions <n>', 'deletion: pods deleted one at a time', int, 20)
  .option('--evictions <n>', 'eviction: disk evictions measured (each up to ~20 s)', int, 5)
  .option('--footprint-pods <n>', 'footprint: pods running for the loaded measurement', int, 100)
  // 30 s: a node's periodic work has that period (registrar's relist of the runtime, which
  // inspects every container); a 10 s window caught it in one run of three, and the same
  // code measured 2.3–4.1 % with 100 pods (2026-12-07).
  .option('--footprint-window <s>', 'footprint: CPU averaging window (s)', int, 30)
  .option('--cold-starts <n>', 'cold-start: starts of each service', int, 10)
  .option('--soak-pods <n>', 'soak: pods kept running', int, 100)
  .option('--soak-period <s>', 'soak: each pod is replaced by a new one every <s> seconds', int, 30)
  .option('--soak-minutes <n>', 'soak: how long', int, 30)
  .option('--rollover-pods <n>', 'rollover: pods kept running through the roll', int, 100)
  .option('--rollover-churn <n>', 'rollover: pods created (and deleted) per second during it', int, 1)
  .option('--rollover-rounds <n>', 'rollover: how many times every replica is restarted (SIGTERM, then SIGKILL)', int, 2)
  .option('--api-reps <n>', 'api-requests: pod lifecycles measured', int, 3)
  .option('--nats-calls <n>', 'nats: round trips per method', int, 500)
  .option('--execs <n>', 'node-api: kubectl exec <pod> -- true runs', int, 100)
  .option('--log-mib <n>', 'node-api: MiB read through kubectl logs', int, 64)
  .option('--log-line <bytes>', 'node-api: bytes per log line, newline included (a power of two)', int, 128)
  .option('--forward-mib <n>', 'node-api: MiB downloaded through kubectl port-forward', int, 64)
  .option('--transfers <n>', 'node-api: runs of each transfer (the median is reported)', int, 3)
  .option('--timeout <s>', 'how long a pod may take to reach a state before it counts as failed', int, 120)
  .option('--reference [node]', `also run ${ON_REFERENCE.join(', ')} on the lab's reference node (the upstream kubelet: \`lab:up -- --reference\`), after splitlet's node is stopped, and write each figure for both with the ratio (comparison.md)`)
  .option('--out <dir>', 'where results go', join(root, 'bench', 'results'))
  .option('--note <text>', 'recorded with the results (e.g. "machine shared, under load")');

program.parse();
const opts = program.opts<{
  kubeconfig?: string;
  node?: string;
  start: boolean;
  natsUrl: string;
  only?: string[];
  skip?: string[];
  sequential: number;
  burst: number;
  throughput: number;
  qps: number;
  runtimePods: number;
  exits: number;
  readiness: number;
  deletions: number;
  evictions: number;
  footprintPods: number;
  footprintWindow: number;
  coldStarts: number;
  soakPods: number;
  soakPeriod: number;
  soakMinutes: number;
  rolloverPods: number;
  rolloverChurn: number;
  rolloverRounds: number;
  apiReps: number;
  natsCalls: number;
  execs: number;
  logMib: number;
  logLine: number;
  forwardMib: number;
  transfers: number;
  timeout: number;
  reference?: string | boolean;
  out: string;
  note?: string;
}>();

const log = (m: string) => process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${m}\n`);

async function main(): Promise<number> {
  for (const s of [...(opts.only ?? []), ...(opts.skip ?? [])]) {
    if (!(SCENARIOS as readonly string[]).includes(s)) throw new Error(`unknown scenario ${s} (known: ${SCENARIOS.join(', ')})`);
  }
  const chosen = SCENARIOS.filter((s) => (opts.only ? opts.only.includes(s) : !ON_REQUEST.includes(s)) && !opts.skip?.includes(s));
  if (!opts.start && !opts.node) throw new Error('--no-start needs --node <name>');
  const kubeconfig = opts.kubeconfig ?? process.env['LAB_ADMIN_KUBECONFIG'] ?? process.env['KUBECONFIG_ADMIN'] ?? labEnv().adminKubeconfig;
  process.env['LAB_ADMIN_KUBECONFIG'] = kubeconfig; // the node identity is minted with it
  const cluster = connectCluster(kubeconfig);
  const cleanup = new Cleanup();
  const cleanups = [cleanup];
  let interrupted = false;
  for (const sig of ['SIGINT', 'SIGTERM'] as const) {
    process.once(sig, () => {
      interrupted = true;
      log(`${sig}: cleaning up (namespaces, pods, the node) before exiting`);
      void Promise.all(cleanups.map((c) => c.run(log))).finally(() => process.exit(130));
    });
  }

  const nodeName = opts.node ?? `bench-${randomSuffix()}`;
  const info = await runInfo(nodeName, opts.start, { ...opts, scenarios: chosen }, opts.note);
  const timeoutMs = opts.timeout * 1000;
  const runAll = async (node: NodeUnderTest, cleanupOf: Cleanup, scenarios: readonly Scenario[]): Promise<ScenarioResult[]> => {
    const results: ScenarioResult[] = [];
    const ctx: BenchContext = { cluster, node, cleanup: cleanupOf, log };
    const run: Record<Scenario, () => Promise<ScenarioResult>> = {
      footprint: () => footprint(ctx, { pods: opts.footprintPods, windowMs: opts.footprintWindow * 1000, settleMs: 5000, timeoutMs }),
      'footprint-single': () => footprintSingle(ctx, { pods: opts.footprintPods, windowMs: opts.footprintWindow * 1000, settleMs: 5000, timeoutMs }),
      'cold-start': () => coldStart(ctx, { starts: opts.coldStarts }),
      soak: () => soak(ctx, { pods: opts.soakPods, periodMs: opts.soakPeriod * 1000, durationMs: opts.soakMinutes * 60_000, windowMs: opts.footprintWindow * 1000 }),
      rollover: () =>
        rollover(ctx, {
          pods: opts.rolloverPods,
          churnPerS: opts.rolloverChurn,
          exitAfterS: 3,
          replicas: { 'runtime-executor': 2, prober: 2, 'status-reporter': 2, registrar: 2, 'pod-sync': 2 },
          rounds: opts.rolloverRounds,
          settleMs: 5_000,
          baselineMs: 60_000,
          logDir: join(root, '.lab', 'bench-logs', `rollover-${new Date().toISOString().slice(0, 19).replaceAll(':', '')}`),
          timeoutMs,
        }),
      startup: () => startup(ctx, { sequential: opts.sequential, burst: opts.burst, throughput: opts.throughput, qps: opts.qps, timeoutMs }),
      // The prober's results bucket is splitlet's: the kubelet has none to watch.
      freshness: () => freshness(ctx, { exits: opts.exits, readiness: opts.readiness, timeoutMs: 15_000, ...(node.agent === 'splitlet' ? { natsUrl: opts.natsUrl } : {}) }),
      deletion: () => deletion(ctx, { pods: opts.deletions, timeoutMs }),
      eviction: () => eviction(ctx, { evictions: opts.evictions, timeoutMs }),
      'api-requests': () => apiRequests(ctx, { repetitions: opts.apiReps, settleMs: 2000, timeoutMs }),
      runtime: () => runtimeAlone(ctx, { pods: opts.runtimePods, qps: opts.qps, baselineMs: 3000 }),
      nats: () => natsLatency(ctx, { url: opts.natsUrl, calls: opts.natsCalls }),
      'node-api': () =>
        nodeApi(ctx, {
          execs: opts.execs,
          logMiB: opts.logMib,
          logLineBytes: opts.logLine,
          forwardMiB: opts.forwardMib,
          transfers: opts.transfers,
          windowMs: opts.footprintWindow * 1000,
          settleMs: 5000,
          timeoutMs,
        }),
    };
    // Footprint first: its idle figure wants a node that has not run pods yet.
    for (const s of ['footprint', ...SCENARIOS.filter((x) => x !== 'footprint')] as Scenario[]) {
      if (!scenarios.includes(s) || interrupted) continue;
      log(`scenario ${s} on ${node.nodeName}`);
      const t0 = Date.now();
      try {
        results.push(await run[s]());
      } catch (err) {
        if (interrupted) break;
        log(`scenario ${s} failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
        results.push({ scenario: s, title: s, figures: [], notes: [], error: String(err), startedAt: new Date(t0).toISOString(), durationMs: Date.now() - t0 });
      }
    }
    return results;
  };

  let results: ScenarioResult[] = [];
  try {
    let node: NodeUnderTest;
    if (opts.start) {
      log(`starting splitlet node ${nodeName} (services from services/*/dist)`);
      // node-api only when its scenario runs: the others measure the five services that run pods.
      node = await startOwnNode(cluster, nodeName, log, cleanup, { nodeApi: chosen.includes('node-api') });
    } else {
      node = existingNode(nodeName);
      await waitNodeReady(cluster, nodeName, 10_000);
    }
    log(`node ${nodeName} is Ready; scenarios: ${chosen.join(', ')}`);
    results = await runAll(node, cleanup, chosen);
  } finally {
    // splitlet's node stops before the reference node is measured: one node at work at a time.
    await cleanup.run(log);
  }
  if (interrupted) return 130;

  let reference: { info: Awaited<ReturnType<typeof runInfo>>; results: ScenarioResult[] } | undefined;
  if (opts.reference) {
    const refName = typeof opts.reference === 'string' ? opts.reference : (process.env['LAB_REFERENCE_NODE_NAME'] ?? `ref-${labEnv().nodeName}`);
    const refScenarios = chosen.filter((s) => ON_REFERENCE.includes(s));
    const refInfo = await runInfo(refName, false, { ...opts, scenarios: refScenarios }, opts.note);
    const refCleanup = new Cleanup();
    cleanups.push(refCleanup);
    try {
      await waitNodeReady(cluster, refName, 10_000).catch(() => {
        throw new Error(`the reference node ${refName} is not Ready: start it with \`npm run lab:up -- --reference\``);
      });
      log(`reference node ${refName} (the upstream kubelet) is Ready; scenarios: ${refScenarios.join(', ')}`);
      reference = { info: refInfo, results: await runAll(referenceNode(refName), refCleanup, refScenarios) };
    } finally {
      await refCleanup.run(log);
    }
    if (interrupted) return 130;
  }

  if (interrupted) return 130;

  const written = await writeResults(opts.out, info, results);
  // Scenarios not run this time keep their recorded figures in the summary and the latency chart.
  const kept = await readKept(opts.out, SCENARIOS, results);
  const charts: string[] = [];
  const drawn: string[] = [];
  const lat = latencySpec(info, [...results, ...kept.map((k) => k.result)], kept.length > 0);
  if (lat) {
    await writeFile(join(opts.out, 'latency.svg'), await renderSvg(lat));
    charts.push('latency.svg');
    drawn.push('latency.svg');
  }
  const fpResult = results.find((r) => r.scenario === 'footprint');
  const fp = fpResult && footprintSpec(info, fpResult);
  if (fp) {
    await writeFile(join(opts.out, 'footprint.svg'), await renderSvg(fp));
    charts.push('footprint.svg');
    drawn.push('footprint.svg');
  } else if (kept.some((k) => k.result.scenario === 'footprint') && existsSync(join(opts.out, 'footprint.svg'))) {
    charts.push('footprint.svg'); // drawn by the run that recorded footprint.json
  }
  const table = summaryTable(info, results, charts, kept);
  await writeFile(join(opts.out, 'summary.md'), table);
  process.stdout.write(`${table}\n`);
  if (reference) {
    written.push(...(await writeResults(join(opts.out, 'reference'), reference.info, reference.results)));
    const comparison = comparisonTable(info, results, reference.info, reference.results);
    await writeFile(join(opts.out, 'comparison.md'), comparison);
    written.push(join(opts.out, 'comparison.md'));
    process.stdout.write(`${comparison}\n`);
  }
  log(`wrote ${[...written, ...drawn.map((c) => join(opts.out, c)), join(opts.out, 'summary.md')].map((p) => relative(root, p)).join(', ')}`);
  return 0;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    log(`failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
    process.exit(1);
  },
);
