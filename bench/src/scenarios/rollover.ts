import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { labBusEnv, runCommand, startServiceProcess, type ServiceName, type ServiceProcess, type TestNode } from '@splitlet/testing';
import { withNamespace, type BenchContext } from '../context';
import { allRunning, benchPod, sleep, UNTIL_SIGTERM } from '../kube';
import { judge, latencyFigure, type Figure, type ScenarioResult } from '../result';
import { summarize } from '../stats';

export interface RolloverOptions {
  /** Pods kept running through the roll. */
  pods: number;
  /** Churn: pods created per second, each exiting after exitAfterS and deleted once it shows so. */
  churnPerS: number;
  exitAfterS: number;
  /** Replicas of each service. */
  replicas: Partial<Record<ServiceName, number>>;
  /** Rounds of the roll: each restarts every replica with SIGTERM, then with SIGKILL. */
  rounds: number;
  /** How long after a replica answers again the next one is restarted. */
  settleMs: number;
  /** The quiet measurement before the roll, with the same churn. */
  baselineMs: number;
  /** Where each service process's log goes once it exited (one file per process), if anywhere. */
  logDir?: string;
  timeoutMs: number;
}

/** The order services are rolled in: the node's runtime first, the pods' own agent last. */
const ORDER: ServiceName[] = ['runtime-executor', 'prober', 'status-reporter', 'registrar', 'pod-sync'];

/** One replica of a service: the harness node's own process (index 0) or one started here. */
interface Replica {
  service: ServiceName;
  index: number;
  proc(): ServiceProcess | undefined;
  restart(signal: 'SIGTERM' | 'SIGKILL'): Promise<void>;
  stop(): Promise<void>;
}

/** A churn pod's life as the watch saw it (ms since the epoch). */
interface ChurnPod {
  name: string;
  createdAt: number;
  runningAt?: number;
  /** When the watch first showed its container terminated, and when the container says it finished. */
  exitSeenAt?: number;
  finishedAt?: number;
  /** The reason the node gave when it refused to run it (a terminal phase with no container run). */
  refused?: string;
}

/**
 * Rolling upgrade (issue 19, `--only rollover`; not in the default run). With `pods`
 * pods running and a churn of `churnPerS` pods a second (each exits after a few
 * seconds and is deleted once it shows so), every replica of every service is
 * restarted one at a time — SIGTERM then start, then SIGKILL then start — `rounds`
 * times. Figures: pod startup (created → all containers running, as the watch sees
 * it) during the roll against the quiet baseline before it; the longest exit → status
 * gap; the longest gap between two Node Lease renewals; and counts that must be zero:
 * running pods' containers restarted or duplicated, churn pods whose status never
 * came, Events written twice, pod shards held by two pod-sync replicas at once (their
 * ownership logs).
 */
export async function rollover(ctx: BenchContext, opts: RolloverOptions): Promise<ScenarioResult> {
  const startedAt = new Date();
  const node: TestNode | undefined = ctx.node.services;
  if (!node) throw new Error('rollover restarts the node\'s services: it needs a node the harness started (not --no-start)');
  const nodeName = ctx.node.nodeName;
  const replicas: Replica[] = [];
  const extras: ServiceProcess[] = [];
  const unregister = ctx.cleanup.add('rollover replicas', async () => {
    for (const p of extras) if (p.child.exitCode === null && p.child.signalCode === null) p.kill('SIGKILL');
    await Promise.all(extras.map((p) => p.exited.catch(() => undefined)));
  });
  const started = (p: ServiceProcess) => p.waitForLog((l) => l['msg'] === 'started', 60_000);
  /** Every pod-sync process of the run and, for one killed, when: its shards' holding intervals are the ownership log. */
  const podSyncs: { proc: ServiceProcess; killedAt?: number }[] = [];
  const retire = (service: ServiceName, p: ServiceProcess | undefined, signal: 'SIGTERM' | 'SIGKILL') => {
    if (service !== 'pod-sync' || !p) return;
    const entry = podSyncs.find((e) => e.proc === p);
    if (entry && signal === 'SIGKILL') entry.killedAt = Date.now();
  };
  const track = (service: ServiceName, p: ServiceProcess | undefined) => {
    if (service === 'pod-sync' && p && !podSyncs.some((e) => e.proc === p)) podSyncs.push({ proc: p });
  };
  let logNo = 0;
  /** Keeps a process's log once it exited (what each replica did, for a look afterwards). */
  const keepLog = (service: string, index: number, p: ServiceProcess | undefined) => {
    const dir = opts.logDir;
    if (!dir || !p) return;
    const file = join(dir, `${String(++logNo).padStart(3, '0')}-${service}-${index}.log`);
    void p.exited
      .then(() => mkdir(dir, { recursive: true }))
      .then(() => writeFile(file, `${p.logs.map((l) => JSON.stringify(l)).join('\n')}\n${p.stderr()}`))
      .catch(() => undefined);
  };
  for (const service of ORDER) {
    replicas.push({
      service,
      index: 0,
      proc: () => node.procs[service],
      restart: async (signal) => {
        keepLog(service, 0, node.procs[service]);
        track(service, node.procs[service]);
        retire(service, node.procs[service], signal);
        await node.stop(service, signal);
        await node.start(service);
        track(service, node.procs[service]);
        await started(node.procs[service]!);
      },
      stop: async () => undefined,
    });
    for (let index = 1; index < (opts.replicas[service] ?? 1); index++) {
      const env = { ...(await labBusEnv(nodeName, service)), ...node.env };
      let proc = startServiceProcess(service, env);
      extras.push(proc);
      track(service, proc);
      await started(proc);
      replicas.push({
        service,
        index,
        proc: () => proc,
        restart: async (signal) => {
          keepLog(service, index, proc);
          retire(service, proc, signal);
          proc.kill(signal);
          await proc.exited.catch(() => undefined);
          proc = startServiceProcess(service, env);
          extras.push(proc);
          track(service, proc);
          await started(proc);
        },
        stop: async () => {
          keepLog(service, index, proc);
          proc.kill('SIGTERM');
          await proc.exited.catch(() => undefined);
        },
      });
    }
  }
  track('pod-sync', node.procs['pod-sync']);
  ctx.log(`rollover: ${replicas.length} replicas (${ORDER.map((s) => `${s} ×${replicas.filter((r) => r.service === s).length}`).join(', ')})`);

  const churn: ChurnPod[] = [];
  const leaseRenewals: number[] = [];
  const notReady: { at: number; reason: string }[] = [];
  let rollFrom = 0;
  let rollUntil = 0;
  const restarts: { service: string; index: number; signal: string; at: number; answeredAfterMs: number }[] = [];
  let steadyBefore = new Map<string, string>();
  let steadyAfter = new Map<string, { id: string; restarts: number }>();
  let dockerPerPod = new Map<string, number>();
  let duplicatedEvents: { pod: string; reason: string; events: number; count: number }[] = [];
  let churnFailures = 0;

  await withNamespace(ctx, 'rollover', async (ns) => {
    // The steady pods.
    const steady = Array.from({ length: opts.pods }, (_, i) => `steady-${i}`);
    await Promise.all(steady.map((n) => ns.create(benchPod(n, nodeName, UNTIL_SIGTERM))));
    await Promise.all(steady.map((n) => ns.tracker.first(n, (e) => allRunning(e.pod), opts.timeoutMs)));
    steadyBefore = await containerIds(ctx, ns.name);
    ctx.log(`rollover: ${steadyBefore.size} of ${opts.pods} steady pods running`);

    // The watchers: the Lease's renewals, the Node's Ready condition.
    let watching = true;
    const watchers = (async () => {
      let last = '';
      while (watching) {
        const lease = await ctx.cluster.coordination.readNamespacedLease({ namespace: 'kube-node-lease', name: nodeName }).catch(() => undefined);
        const renew = lease?.spec?.renewTime ? new Date(lease.spec.renewTime as unknown as string).getTime() : undefined;
        if (renew !== undefined && String(renew) !== last) {
          last = String(renew);
          leaseRenewals.push(renew);
        }
        const n = await ctx.cluster.core.readNode({ name: nodeName }).catch(() => undefined);
        const ready = n?.status?.conditions?.find((c) => c.type === 'Ready');
        if (ready && ready.status !== 'True') notReady.push({ at: Date.now(), reason: `${ready.status} ${ready.reason ?? ''}: ${ready.message ?? ''}`.slice(0, 200) });
        await sleep(500);
      }
    })();

    // The churn: a pod a 1/churnPerS, each exiting after exitAfterS, deleted once it shows so.
    let churning = true;
    let n = 0;
    const follow = async (p: ChurnPod) => {
      const running = await ns.tracker.first(p.name, (e) => allRunning(e.pod) || Boolean(e.pod.status?.containerStatuses?.[0]?.state?.terminated), opts.timeoutMs);
      if (running && allRunning(running.pod)) p.runningAt = running.at;
      const terminal = (e: { pod: { status?: { phase?: string } } }) => e.pod.status?.phase === 'Failed' || e.pod.status?.phase === 'Succeeded';
      const exited = await ns.tracker.first(p.name, (e) => Boolean(e.pod.status?.containerStatuses?.[0]?.state?.terminated) || terminal(e), opts.timeoutMs);
      if (exited && !exited.pod.status?.containerStatuses?.[0]?.state?.terminated) p.refused = exited.pod.status?.reason ?? exited.pod.status?.phase ?? '';
      else if (exited) {
        p.exitSeenAt = exited.at;
        const t = exited.pod.status!.containerStatuses![0]!.state!.terminated!;
        p.finishedAt = new Date(t.finishedAt as unknown as string).getTime();
      }
      await ctx.cluster.core.deleteNamespacedPod({ namespace: ns.name, name: p.name }).catch(() => undefined);
    };
    const follows: Promise<void>[] = [];
    const churner = (async () => {
      while (churning) {
        const p: ChurnPod = { name: `churn-${n++}`, createdAt: Date.now() };
        churn.push(p);
        try {
          p.createdAt = await ns.create(benchPod(p.name, nodeName, `sleep ${opts.exitAfterS}; exit 0`, { restartPolicy: 'Never' }));
          follows.push(follow(p));
        } catch {
          churnFailures++;
        }
        await sleep(1000 / opts.churnPerS);
      }
    })();

    ctx.log(`rollover: baseline, ${opts.baselineMs / 1000} s of churn`);
    await sleep(opts.baselineMs);
    rollFrom = Date.now();
    for (let round = 1; round <= opts.rounds; round++) {
      for (const r of replicas) {
        for (const signal of ['SIGTERM', 'SIGKILL'] as const) {
          const at = Date.now();
          await r.restart(signal);
          restarts.push({ service: r.service, index: r.index, signal, at, answeredAfterMs: Date.now() - at });
          ctx.log(`rollover: round ${round}, ${r.service} #${r.index} ${signal}: back after ${Date.now() - at} ms`);
          await sleep(opts.settleMs);
        }
      }
    }
    rollUntil = Date.now();
    ctx.log('rollover: the roll is done; 30 s more of churn, then the checks');
    await sleep(30_000);
    churning = false;
    await churner;
    await Promise.all(follows);
    watching = false;
    await watchers;

    const after = await ctx.cluster.core.listNamespacedPod({ namespace: ns.name });
    steadyAfter = new Map(
      after.items
        .filter((p) => p.metadata?.name?.startsWith('steady-'))
        .map((p) => [p.metadata!.name!, { id: p.status?.containerStatuses?.[0]?.containerID ?? '', restarts: p.status?.containerStatuses?.[0]?.restartCount ?? 0 }]),
    );
    dockerPerPod = await dockerContainersPerPod(nodeName, after.items.filter((p) => p.metadata?.name?.startsWith('steady-')).map((p) => p.metadata!.uid!));
    // Each churn pod's Pulled, Created, Started: one Event each, count 1.
    const events = (await ctx.cluster.core.listNamespacedEvent({ namespace: ns.name })).items.filter((e) => e.source?.component === 'kubelet' && e.involvedObject.name?.startsWith('churn-'));
    const groups = new Map<string, { events: number; count: number }>();
    for (const e of events) {
      if (!['Pulled', 'Created', 'Started'].includes(e.reason ?? '')) continue;
      const key = `${e.involvedObject.name} ${e.reason}`;
      const g = groups.get(key) ?? { events: 0, count: 0 };
      g.events++;
      g.count += e.count ?? 1;
      groups.set(key, g);
    }
    duplicatedEvents = [...groups].filter(([, g]) => g.count > 1).map(([k, g]) => ({ pod: k.split(' ')[0]!, reason: k.split(' ')[1]!, ...g }));
  });
  unregister();
  for (const r of replicas) await r.stop();
  for (const s of ORDER) keepLog(s, 0, node.procs[s]);

  const during = (p: ChurnPod) => p.createdAt >= rollFrom && p.createdAt <= rollUntil;
  const before = (p: ChurnPod) => p.createdAt < rollFrom;
  const startup = (ps: ChurnPod[]) => ps.filter((p) => p.runningAt !== undefined).map((p) => p.runningAt! - p.createdAt);
  // finishedAt has whole seconds: the gap is measured from the end of that second, so it is never overstated.
  const freshness = (ps: ChurnPod[]) => ps.filter((p) => p.exitSeenAt !== undefined && p.finishedAt !== undefined).map((p) => Math.max(0, p.exitSeenAt! - (p.finishedAt! + 999)));
  const leaseGaps = leaseRenewals.slice(1).map((t, i) => t - leaseRenewals[i]!);
  const rollLeaseGaps = leaseRenewals.slice(1).flatMap((t, i) => (t >= rollFrom && leaseRenewals[i]! <= rollUntil + 10_000 ? [t - leaseRenewals[i]!] : []));
  const restarted = [...steadyAfter].filter(([name, s]) => s.restarts > 0 || (steadyBefore.has(name) && steadyBefore.get(name) !== s.id)).length;
  const duplicated = [...dockerPerPod.values()].filter((c) => c !== 2).length;
  const twoHolders = overlappingHoldings(podSyncs.map((e) => ({ logs: e.proc.logs, endsAt: e.killedAt ?? Infinity })));
  const lost = churn.filter((p) => p.exitSeenAt === undefined && p.refused === undefined).length;
  const refused = churn.filter((p) => p.refused !== undefined);
  const zero = (id: string, title: string, value: number, note: string): Figure =>
    judge({ id: `rollover.${id}`, title, unit: 'requests', value, goals: [{ stat: 'value', max: 0, source: '#19' }], note });

  const figures: Figure[] = [
    latencyFigure('rollover.startup.baseline', 'Rollover, churn pod startup before the roll (created → running, watch)', startup(churn.filter(before))),
    latencyFigure('rollover.startup.roll', 'Rollover, churn pod startup during the roll', startup(churn.filter(during))),
    latencyFigure('rollover.freshness.roll', 'Rollover, exit → status seen during the roll (finishedAt rounded up to its second)', freshness(churn.filter(during))),
    judge({
      id: 'rollover.lease-gap',
      title: 'Rollover, the longest gap between two Node Lease renewals during the roll',
      unit: 'ms',
      value: rollLeaseGaps.length ? Math.max(...rollLeaseGaps) : Number.NaN,
      goals: [{ stat: 'value', max: 20_000, source: '#19 (no renewal missed: under two 10 s intervals)' }],
      note: `all gaps: ${JSON.stringify(summarize(leaseGaps))}`,
    }),
    zero('restarted', 'Rollover, running pods whose container was restarted or replaced by the roll', restarted, `of ${opts.pods} steady pods: restartCount > 0 or another container ID at the end`),
    zero('duplicated', 'Rollover, running pods with other than one sandbox and one container in Docker', duplicated, 'Docker containers labelled with the pod\'s UID, at the end'),
    zero('statuses-lost', 'Rollover, churn pods whose exit never reached the API server', lost, `within ${opts.timeoutMs / 1000} s; of ${churn.length} churn pods`),
    zero('refused', 'Rollover, churn pods the node refused to run', refused.length, `reasons: ${[...new Set(refused.map((p) => p.refused))].join(', ') || 'none'}`),
    zero('events-duplicated', 'Rollover, churn pods\' Pulled/Created/Started written more than once', duplicatedEvents.length, 'an Event object twice, or its count above 1'),
    zero(
      'two-writers',
      'Rollover, pods synced by two pod-sync replicas at once',
      twoHolders.length,
      `the ownership log: each pod shard's holding intervals in the ${podSyncs.length} pod-sync processes' logs (a killed one's end at its kill), any two overlapping${twoHolders.length ? `: ${JSON.stringify(twoHolders.slice(0, 5))}` : ''}`,
    ),
  ];
  return {
    scenario: 'rollover',
    title: 'Rolling restart',
    figures,
    notes: [
      `${opts.pods} steady pods; churn ${opts.churnPerS} pod/s (${churn.length} created, ${churnFailures} creations refused), each exiting after ${opts.exitAfterS} s and deleted once it showed so.`,
      `${opts.rounds} round(s): each of ${replicas.length} replicas restarted with SIGTERM, then SIGKILL, one at a time, ${opts.settleMs / 1000} s apart; roll ${Math.round((rollUntil - rollFrom) / 1000)} s, baseline ${opts.baselineMs / 1000} s.`,
      `Node not Ready during the run: ${notReady.length} look(s) of 2 a second${notReady.length ? ` (first: ${notReady[0]!.reason})` : ''}.`,
    ],
    details: { restarts, notReady: notReady.slice(0, 50), leaseRenewals, duplicatedEvents: duplicatedEvents.slice(0, 50), churn: churn.map((p) => ({ ...p })) },
    startedAt: startedAt.toISOString(),
    durationMs: Date.now() - startedAt.getTime(),
  };
}

/**
 * The pod shards two pod-sync processes held at once, from their logs ('syncing the
 * pods of a shard' … 'stopped syncing the pods of a shard'); a process's open interval
 * ends at endsAt (its kill; Infinity while it runs). Every pod is in one shard, so this
 * is every time a pod could have had two workers.
 */
export function overlappingHoldings(procs: { logs: readonly Record<string, unknown>[]; endsAt: number }[]): { shard: number; a: [number, number]; b: [number, number] }[] {
  const intervals = procs.map(({ logs, endsAt }) => {
    const out = new Map<number, [number, number][]>();
    for (const l of logs) {
      if (l['msg'] !== 'syncing the pods of a shard' && l['msg'] !== 'stopped syncing the pods of a shard') continue;
      const shard = Number(l['shard']);
      const at = typeof l['time'] === 'number' ? l['time'] : Date.parse(String(l['time']));
      const list = out.get(shard) ?? [];
      if (l['msg'] === 'syncing the pods of a shard') list.push([at, endsAt]);
      else if (list.length) list[list.length - 1]![1] = at;
      out.set(shard, list);
    }
    return out;
  });
  const found: { shard: number; a: [number, number]; b: [number, number] }[] = [];
  for (let i = 0; i < intervals.length; i++) {
    for (let j = i + 1; j < intervals.length; j++) {
      for (const [shard, list] of intervals[i]!) {
        for (const a of list) for (const b of intervals[j]!.get(shard) ?? []) if (a[0] < b[1] && b[0] < a[1]) found.push({ shard, a, b });
      }
    }
  }
  return found;
}

/** The steady pods' app container IDs, by pod name. */
async function containerIds(ctx: BenchContext, namespace: string): Promise<Map<string, string>> {
  const list = await ctx.cluster.core.listNamespacedPod({ namespace });
  return new Map(list.items.filter((p) => p.metadata?.name?.startsWith('steady-')).map((p) => [p.metadata!.name!, p.status?.containerStatuses?.[0]?.containerID ?? '']));
}

/** How many Docker containers (sandbox and app) each pod has. */
async function dockerContainersPerPod(nodeName: string, uids: string[]): Promise<Map<string, number>> {
  const out = (await runCommand('docker', ['ps', '-a', '--filter', `label=splitlet.node=${nodeName}`, '--format', '{{.Label "io.kubernetes.pod.uid"}}'])).stdout.split('\n').filter(Boolean);
  const counts = new Map<string, number>(uids.map((u) => [u, 0]));
  for (const uid of out) if (counts.has(uid)) counts.set(uid, counts.get(uid)! + 1);
  return counts;
}
