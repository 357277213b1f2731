import { cpus } from 'node:os';
import { allRunning, benchPod, sleep, UNTIL_SIGTERM } from '../kube';
import { deleteAndWait, withNamespace, type BenchContext, type BenchNamespace } from '../context';
import { judge, latencyFigure, type Figure, type Goal, type ScenarioResult } from '../result';
import { summarize } from '../stats';
import { machineBusy, waitMachineQuiet } from '../proc';

export interface StartupOptions {
  sequential: number;
  burst: number;
  throughput: number;
  qps: number;
  timeoutMs: number;
}

/** One pod's start as observed: when the harness sent the create, and the first watch event with all containers running. */
interface Start {
  name: string;
  sent: number;
  runningAt?: number;
  creationTimestamp?: number;
  startedAt?: number;
}

const K8S_SLO: Goal = { stat: 'p99', max: 5000, source: 'Kubernetes pod startup SLO' };

/**
 * Pod startup latency, the Kubernetes SLI: pod creation → all its containers
 * running, observed through a watch. The start is the harness's own clock just
 * before the create request (the API's creationTimestamp has 1 s granularity; it
 * is recorded too), the end the receive time of the first watch event showing
 * every container running.
 */
export async function startup(ctx: BenchContext, opts: StartupOptions): Promise<ScenarioResult> {
  const startedAt = new Date();
  const figures: Figure[] = [];
  const details: Record<string, unknown> = {};
  const notes = [
    'Latency = receive time of the first watch event showing every container running − the harness clock just before the create request (it includes the create call itself and the watch delivery).',
    'Pods are bound with spec.nodeName (the scheduler is not in the path), one container of the local image splitlet-lab/testbox:1, imagePullPolicy IfNotPresent, no probes.',
    'p99 is by nearest rank: with 50 samples it is the maximum.',
  ];
  await withNamespace(ctx, 'startup', async (ns) => {
    if (opts.sequential > 0) {
      ctx.log(`startup: ${opts.sequential} pods one after another`);
      const starts: Start[] = [];
      for (let i = 0; i < opts.sequential; i++) {
        const s = await createPod(ns, ctx, `seq-${i}`);
        starts.push(s);
        await waitRunning(ns, [s], opts.timeoutMs);
      }
      figures.push(fig('startup.sequential', `Pod startup, ${opts.sequential} pods one after another`, starts, [
        { stat: 'p50', max: 500, source: '#4' },
        { stat: 'p99', max: 1000, source: '#4' },
      ]));
      details['sequential'] = timestampViews(starts);
      await deleteAndWait(ctx, ns, starts.map((s) => s.name));
    }
    if (opts.burst > 0) {
      await quiet(ctx, details, 'burst');
      ctx.log(`startup: ${opts.burst} pods created at once`);
      const starts = await Promise.all(Array.from({ length: opts.burst }, (_, i) => createPod(ns, ctx, `burst-${i}`)));
      await waitRunning(ns, starts, opts.timeoutMs);
      figures.push(fig('startup.burst', `Pod startup, ${opts.burst} pods created at once`, starts, [K8S_SLO]));
      const ran = starts.filter((s) => s.runningAt !== undefined);
      const all = ran.length === starts.length ? (Math.max(...ran.map((s) => s.runningAt!)) - Math.min(...starts.map((s) => s.sent))) / 1000 : Number.NaN;
      figures.push(
        judge({
          id: 'startup.burst.all',
          title: `${opts.burst} pods created at once: all Running`,
          unit: 's',
          value: Math.round(all * 10) / 10,
          goals: [{ stat: 'value', max: 30, source: '#4' }],
          note: 'from the first create request sent to the watch event of the last pod running',
          ...(ran.length < starts.length ? { na: `${starts.length - ran.length} pod(s) not running within ${opts.timeoutMs / 1000} s` } : {}),
        }),
      );
      details['burst'] = timestampViews(starts);
      await deleteAndWait(ctx, ns, starts.map((s) => s.name));
    }
    if (opts.throughput > 0) {
      await quiet(ctx, details, 'throughput');
      ctx.log(`startup: ${opts.throughput} pods at ${opts.qps} pods/s`);
      const t0 = Date.now();
      const busy0 = await machineBusy();
      const pending: Promise<Start>[] = [];
      for (let i = 0; i < opts.throughput; i++) {
        const due = t0 + (i * 1000) / opts.qps;
        if (due > Date.now()) await sleep(due - Date.now());
        pending.push(createPod(ns, ctx, `tput-${i}`));
      }
      const starts = await Promise.all(pending);
      await waitRunning(ns, starts, opts.timeoutMs);
      const busy1 = await machineBusy();
      figures.push(fig('startup.throughput', `Pod startup, ${opts.throughput} pods at ${opts.qps} pods/s (clusterloader2 node-throughput shape)`, starts, [K8S_SLO]));
      // How close the machine ran to its limit meanwhile: near all of its cores, each
      // pod's wait grows through the run and the p99 swings widely from run to run.
      const cores = cpus().length;
      const busyS = busy1.busyS - busy0.busyS;
      const wallS = busy1.at - busy0.at;
      figures.push(
        {
          id: 'startup.throughput.machine',
          title: `The machine's CPU while ${opts.throughput} pods start at ${opts.qps} pods/s, % of all its cores`,
          unit: '%',
          value: Math.round((busyS / (wallS * cores)) * 1000) / 10,
          note: `the whole machine's busy time (/proc/stat, all but idle and iowait) from the first create to the last pod seen running (${wallS.toFixed(1)} s, ${cores} cores); it holds the harness and the control plane too`,
        },
        {
          id: 'startup.throughput.cpu',
          title: `The machine's CPU per 100 pods started at ${opts.qps} pods/s`,
          unit: 'CPU-s',
          value: Math.round((busyS / starts.length) * 100 * 10) / 10,
          note: 'the same busy time per 100 pods: the agent, its runtime, the control plane and the harness',
        },
      );
      details['throughput'] = timestampViews(starts);
      await deleteAndWait(ctx, ns, starts.map((s) => s.name));
    }
  });
  return { scenario: 'startup', title: 'Pod startup latency', figures, notes, details, startedAt: startedAt.toISOString(), durationMs: Date.now() - startedAt.getTime() };
}

/**
 * Before a phase: the machine quiet (below a third of a core for 3 s, at most 90 s),
 * so that the previous phase's tail — the runtime removing its hundred pods'
 * containers, whenever the agent does that — is not measured as this phase's.
 */
async function quiet(ctx: BenchContext, details: Record<string, unknown>, phase: string): Promise<void> {
  const q = await waitMachineQuiet({ belowCores: 0.33, forMs: 3000, maxMs: 90_000 });
  ctx.log(`startup: the machine ${q.quiet ? 'was quiet' : 'was still busy'} after ${(q.waitedMs / 1000).toFixed(1)} s`);
  details[`${phase}QuietWaitMs`] = q.waitedMs;
  if (!q.quiet) details[`${phase}StartedBusy`] = true;
}

async function createPod(ns: BenchNamespace, ctx: BenchContext, name: string): Promise<Start> {
  const sent = await ns.create(benchPod(name, ctx.node.nodeName, UNTIL_SIGTERM));
  return { name, sent };
}

async function waitRunning(ns: BenchNamespace, starts: Start[], timeoutMs: number): Promise<void> {
  await Promise.all(
    starts.map(async (s) => {
      const ev = await ns.tracker.first(s.name, (e) => e.type !== 'DELETED' && allRunning(e.pod), timeoutMs);
      if (!ev) return;
      s.runningAt = ev.at;
      s.creationTimestamp = new Date(ev.pod.metadata?.creationTimestamp ?? NaN).getTime();
      s.startedAt = new Date(ev.pod.status?.containerStatuses?.[0]?.state?.running?.startedAt ?? NaN).getTime();
    }),
  );
}

function fig(id: string, title: string, starts: Start[], goals: Goal[]): Figure {
  const ran = starts.filter((s) => s.runningAt !== undefined);
  const failures = starts.length - ran.length;
  return latencyFigure(id, title, ran.map((s) => s.runningAt! - s.sent), {
    goals,
    ...(failures ? { failures, note: `${failures} of ${starts.length} pods were not running within the timeout and are left out` } : {}),
    ...(ran.length === 0 ? { na: 'no pod reached Running' } : {}),
  });
}

/**
 * The same starts read with the API's own timestamps (RFC 3339, whole seconds):
 * creationTimestamp → watch (the SLI as clusterloader2 computes it, overstated by up
 * to 1 s by the truncation) and startedAt → watch (how long the running state took
 * to reach a watcher, also up to 1 s overstated).
 */
function timestampViews(starts: Start[]) {
  const ran = starts.filter((s) => s.runningAt !== undefined);
  return {
    creationTimestampToWatchMs: summarize(ran.map((s) => s.runningAt! - s.creationTimestamp!).filter(Number.isFinite)),
    startedAtToWatchMs: summarize(ran.map((s) => s.runningAt! - s.startedAt!).filter(Number.isFinite)),
    createCallToCreationTimestampMs: summarize(ran.map((s) => s.creationTimestamp! - s.sent).filter(Number.isFinite)),
  };
}
