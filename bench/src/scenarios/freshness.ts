import { fromBinary } from '@bufbuild/protobuf';
import { Kvm, KvWatchInclude } from '@nats-io/kv';
import { type NatsConnection } from '@nats-io/transport-node';
import { probeResultsBucket } from '@splitlet/bus';
import { ProbeKind, ProbeResultSchema, ProbeResultValue } from '@splitlet/contracts';
import { connectToLabBus } from '@splitlet/testing';
import { benchPod, isReady, terminatedFinishedAt } from '../kube';
import { withNamespace, type BenchContext } from '../context';
import { latencyFigure, type Figure, type ScenarioResult } from '../result';

export interface FreshnessOptions {
  exits: number;
  readiness: number;
  /** How long after its moment a pod may take to show it before it counts as never. */
  timeoutMs: number;
  /** The node's NATS, where the prober publishes its results (SPLITLET_PROBES_<node>); none: that figure is left out. */
  natsUrl?: string;
}

/**
 * When the prober published each pod's first readiness success (the KV entry's
 * server time, ms), watched from the harness's own NATS connection.
 */
async function watchReadinessPublished(url: string, nodeName: string): Promise<{ firstSuccess: Map<string, number>; stop: () => Promise<void> }> {
  // As the node's pod-sync, which reads the probe results.
  const nc: NatsConnection = await connectToLabBus(nodeName, 'pod-sync', url.split(','));
  const kv = await new Kvm(nc).open(probeResultsBucket(nodeName));
  const firstSuccess = new Map<string, number>();
  const it = await kv.watch({ include: KvWatchInclude.UpdatesOnly });
  const done = (async () => {
    for await (const e of it) {
      if (e.operation !== 'PUT') continue;
      try {
        const r = fromBinary(ProbeResultSchema, e.value);
        if (r.kind === ProbeKind.READINESS && r.result === ProbeResultValue.SUCCESS && !firstSuccess.has(r.podUid)) firstSuccess.set(r.podUid, e.created.getTime());
      } catch {
        // not a result: skipped
      }
    }
  })();
  return {
    firstSuccess,
    async stop() {
      it.stop();
      await done.catch(() => undefined);
      await nc.close();
    },
  };
}

/**
 * Sleeps until the whole second T (epoch seconds, from $T): coarsely, then in 10 ms
 * steps through the last second, so what follows happens within ~10-20 ms after T.
 * busybox's date has no %N, so the moment is pinned to a second boundary instead.
 */
const UNTIL_T = 'd=$((T - $(date +%s) - 1)); [ "$d" -gt 0 ] && sleep "$d"; while [ "$(date +%s)" -lt "$T" ]; do sleep 0.01; done';

/**
 * Status freshness: how long after a container's exit, and after a readiness
 * change, the pod's status shows it to a watcher. Each pod acts at a known whole
 * second T (one pod per second), so the latency is the watch event's receive time
 * − T, with no 1 s truncation of the API's timestamps. The container must have
 * started before T (startedAt) and, for an exit, finished within T (finishedAt),
 * else the sample is left out as misaligned.
 */
export async function freshness(ctx: BenchContext, opts: FreshnessOptions): Promise<ScenarioResult> {
  const startedAt = new Date();
  const figures: Figure[] = [];
  const notes = [
    'Each container acts at a whole second T it is given (it sleeps, then polls `date +%s` every 10 ms); the figure is the watch event receive time − T, so it overstates the true latency by the container\'s own lag past T (about 10-20 ms, more under load).',
  ];
  const details: Record<string, unknown> = {};
  await withNamespace(ctx, 'freshness', async (ns) => {
    if (opts.exits > 0) {
      ctx.log(`freshness: ${opts.exits} containers exiting at known seconds`);
      const base = Math.ceil(Date.now() / 1000) + 10 + Math.ceil(opts.exits / 5);
      const pods = Array.from({ length: opts.exits }, (_, i) => ({ name: `exit-${i}`, t: base + i }));
      await Promise.all(pods.map((p) => ns.create(benchPod(p.name, ctx.node.nodeName, `${UNTIL_T}; exit 0`, { restartPolicy: 'Never', env: { T: String(p.t) } }))));
      let misaligned = 0;
      let never = 0;
      const samples: number[] = [];
      await Promise.all(
        pods.map(async (p) => {
          const ev = await ns.tracker.first(p.name, (e) => e.type !== 'DELETED' && terminatedFinishedAt(e.pod) !== undefined, p.t * 1000 - Date.now() + opts.timeoutMs);
          if (!ev) return void never++;
          const terminated = ev.pod.status?.containerStatuses?.[0]?.state?.terminated;
          const started = Math.floor(new Date(terminated?.startedAt ?? NaN).getTime() / 1000);
          const finished = Math.floor(Date.parse(terminatedFinishedAt(ev.pod)!) / 1000);
          // It must have run before T (else its exit came with its start) and exited within T.
          if (!(started < p.t) || finished !== p.t) return void misaligned++;
          samples.push(ev.at - p.t * 1000);
        }),
      );
      figures.push(
        latencyFigure('freshness.exit', 'Container exit → pod status shows it terminated (watch)', samples, {
          goals: [{ stat: 'p99', max: 250, source: '#7' }],
          note: '#7\'s goal is Docker\'s die → the status PATCH sent; this end-to-end figure also holds the API server\'s write and the watch delivery, so it can only overstate it.',
          ...(misaligned + never ? { failures: misaligned + never } : {}),
          ...(samples.length === 0 ? { na: `no usable sample (${never} never showed terminated, ${misaligned} did not exit at their second)` } : {}),
        }),
      );
      details['exit'] = { misaligned, neverTerminated: never };
    }
    if (opts.readiness > 0) {
      ctx.log(`freshness: ${opts.readiness} containers becoming ready at known seconds`);
      const base = Math.ceil(Date.now() / 1000) + 10 + Math.ceil(opts.readiness / 5);
      // Each file appears at its whole second T plus an offset spread over the second
      // (pod i: (i mod 10) × 100 ms): pods created together have their probe workers
      // in nearly one phase, so files at whole seconds would all wait the same part of
      // the period, one draw per run; offsets make the figure a distribution of it.
      const pods = Array.from({ length: opts.readiness }, (_, i) => ({ name: `ready-${i}`, t: base + i, offsetMs: (i % 10) * 100 }));
      const published = opts.natsUrl ? await watchReadinessPublished(opts.natsUrl, ctx.node.nodeName).catch((err: unknown) => (ctx.log(`freshness: cannot watch the prober's results: ${String(err)}`), undefined)) : undefined;
      const fromPublished: number[] = [];
      let unpublished = 0;
      await Promise.all(
        pods.map((p) =>
          ns.create(
            benchPod(p.name, ctx.node.nodeName, `${UNTIL_T}; usleep ${p.offsetMs * 1000}; touch /tmp/ready; trap "exit 0" TERM; sleep 3600 & wait`, {
              env: { T: String(p.t) },
              readinessProbeCommand: ['test', '-f', '/tmp/ready'],
            }),
          ),
        ),
      );
      let early = 0;
      let never = 0;
      let late = 0;
      const samples: number[] = [];
      await Promise.all(
        pods.map(async (p) => {
          const fileAt = p.t * 1000 + p.offsetMs;
          const ev = await ns.tracker.first(p.name, (e) => e.type !== 'DELETED' && isReady(e.pod), fileAt - Date.now() + opts.timeoutMs);
          if (!ev) return void never++;
          if (ev.at < fileAt) return void early++;
          // It must have been running before T, else the figure would hold its start.
          const started = Math.floor(new Date(ev.pod.status?.containerStatuses?.[0]?.state?.running?.startedAt ?? NaN).getTime() / 1000);
          if (!(started < p.t)) return void late++;
          samples.push(ev.at - fileAt);
          const at = published?.firstSuccess.get(ev.pod.metadata?.uid ?? '');
          if (at === undefined) unpublished++;
          else fromPublished.push(ev.at - at);
        }),
      );
      await published?.stop();
      const na =
        samples.length > 0
          ? undefined
          : late > 0 && early + never === 0
            ? `no container was running before its second T (${late} of ${pods.length}): the pods started too slowly for this measurement`
            : early > 0
            ? `the Ready condition turned True before the readiness file existed (${early} of ${pods.length} pods): the readiness probe is not evaluated on this node (no prober results yet)`
            : `the Ready condition never turned True within ${opts.timeoutMs / 1000} s after the readiness file was created (${never} of ${pods.length} pods): no prober result reached the status (the prober service is not implemented yet on this node)`;
      figures.push(
        latencyFigure('freshness.readiness', 'Readiness file created → Ready condition True (watch)', samples, {
          goals: [{ stat: 'p99', max: 250, source: '#7' }],
          note: 'Includes the probe period (exec probe `test -f /tmp/ready`, periodSeconds 1): up to 1 s of waiting for the next probe is part of the figure. #7\'s goal is the prober\'s published result → Ready written, which excludes that period.',
          ...(early + never + late ? { failures: early + never + late } : {}),
          ...(na ? { na } : {}),
        }),
      );
      if (published) {
        figures.push(
          latencyFigure('freshness.readiness.published', 'Prober publishes readiness success → Ready condition True (watch)', fromPublished, {
            goals: [{ stat: 'p99', max: 250, source: '#7' }],
            note: 'From the server time of the prober\'s result in SPLITLET_PROBES_<node> (JetStream KV) to the watch event showing Ready True: pod-sync\'s reaction, status-reporter\'s PATCH, the API server\'s write and the watch delivery.',
            ...(unpublished ? { failures: unpublished } : {}),
            ...(fromPublished.length === 0 ? { na: 'no readiness result from the prober was seen in its bucket' } : {}),
          }),
        );
      }
      details['readiness'] = { readyBeforeTheFile: early, neverReady: never, startedAfterT: late, readyWithoutAPublishedResult: unpublished };
    }
  });
  return { scenario: 'freshness', title: 'Status freshness', figures, notes, details, startedAt: startedAt.toISOString(), durationMs: Date.now() - startedAt.getTime() };
}
