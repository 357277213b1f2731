import { benchPod, sleep, UNTIL_SIGTERM } from '../kube';
import { withNamespace, type BenchContext } from '../context';
import { judge, type Figure, type ScenarioResult } from '../result';
import { measure, type ServiceUsage } from './footprint';

/**
 * The end is read this long after the churn stopped (pods still running): a process
 * gives V8's freed pages back once its event loop was quiet over a 30 s check
 * (libs/service page-release.ts), so a high-water mark it keeps only while busy is not
 * counted as growth. The reading a period after the churn is kept beside it.
 */
const SETTLE_MS = 120_000;

export interface SoakOptions {
  pods: number;
  /** How long each pod lives before it is replaced. */
  periodMs: number;
  durationMs: number;
  windowMs: number;
}

/**
 * Soak (issue 17, `--only soak`; not in the default run): `pods` pods, each replaced by a
 * new one every `periodMs` (deleted, and a pod of a new name created; the replacements
 * spread evenly over the period), for `durationMs`. A pod's container cannot simply
 * exit every 30 s: the kubelet's crash-loop back-off (10 s doubling to 5 min) would
 * space its restarts out, so the churn is of whole pods, which goes through every
 * per-pod path — admission, sandbox, volumes, probes' views, status versions, Events,
 * deletion, garbage collection — and so through every per-pod record a service keeps.
 * RSS and PSS of each service at the start (the first pods running) and the end;
 * growth above 10 % is a leak (the goal).
 */
export async function soak(ctx: BenchContext, opts: SoakOptions): Promise<ScenarioResult> {
  const startedAt = new Date();
  let start: ServiceUsage[] = [];
  let end: ServiceUsage[] = [];
  /** A period after the churn stopped: before a process had its quiet spell (the page release's). */
  let atChurnEnd: ServiceUsage[] = [];
  /** RSS per service every ~quarter of the run (a leak grows on; a warm-up levels off). */
  const series: { atMin: number; rssMiB: Record<string, number> }[] = [];
  let created = 0;
  let failedCreates = 0;
  await withNamespace(ctx, 'soak', async (ns) => {
    const slots = Array.from({ length: opts.pods }, (_, i) => ({ slot: i, generation: 0 }));
    const name = (s: { slot: number; generation: number }) => `soak-${s.slot}-${s.generation}`;
    const create = async (s: { slot: number; generation: number }) => {
      try {
        await ns.create(benchPod(name(s), ctx.node.nodeName, UNTIL_SIGTERM));
        created++;
      } catch {
        failedCreates++;
      }
    };
    await Promise.all(slots.map(create));
    ctx.log(`soak: ${opts.pods} pods created; measuring the start in ${opts.periodMs / 1000} s`);
    await sleep(opts.periodMs);
    start = await measure(await ctx.node.locate(), opts.windowMs);
    const t0 = Date.now();
    const until = t0 + opts.durationMs;
    const gap = opts.periodMs / opts.pods;
    const sampleEveryMs = Math.max(opts.periodMs, opts.durationMs / 4);
    let nextSample = t0 + sampleEveryMs;
    series.push({ atMin: 0, rssMiB: Object.fromEntries(start.map((u) => [u.service, u.rssMiB])) });
    let i = 0;
    while (Date.now() < until) {
      if (Date.now() >= nextSample) {
        nextSample += sampleEveryMs;
        // RSS only (no CPU window): the churn goes on meanwhile.
        const now = await measure(await ctx.node.locate(), 0);
        series.push({ atMin: Math.round((Date.now() - t0) / 6_000) / 10, rssMiB: Object.fromEntries(now.map((u) => [u.service, u.rssMiB])) });
      }
      const s = slots[i % opts.pods]!;
      const old = name(s);
      s.generation++;
      void ctx.cluster.core.deleteNamespacedPod({ namespace: ns.name, name: old, body: { gracePeriodSeconds: 1 } }).catch(() => undefined);
      void create(s);
      i++;
      if (i % (opts.pods * 4) === 0) ctx.log(`soak: ${created} pods created, ${Math.round((until - Date.now()) / 60_000)} min left`);
      await sleep(gap);
    }
    ctx.log(`soak: the churn stops; measuring the end once the last replacements ran a period, and again ${SETTLE_MS / 1000} s after the churn`);
    const stoppedAt = Date.now();
    await sleep(opts.periodMs);
    atChurnEnd = await measure(await ctx.node.locate(), opts.windowMs);
    series.push({ atMin: Math.round((Date.now() - t0) / 6_000) / 10, rssMiB: Object.fromEntries(atChurnEnd.map((u) => [u.service, u.rssMiB])) });
    await sleep(Math.max(0, stoppedAt + SETTLE_MS - Date.now()));
    end = await measure(await ctx.node.locate(), opts.windowMs);
    series.push({ atMin: Math.round((Date.now() - t0) / 6_000) / 10, rssMiB: Object.fromEntries(end.map((u) => [u.service, u.rssMiB])) });
  });
  const figures: Figure[] = [];
  for (const e of end) {
    const s = start.find((x) => x.service === e.service);
    if (!s) continue;
    const growth = Math.round(((e.rssMiB - s.rssMiB) / s.rssMiB) * 1000) / 10;
    figures.push(
      judge({
        id: `soak.${e.service}.rss-growth`,
        title: `Soak, RSS growth of ${e.service} (${s.rssMiB} → ${e.rssMiB} MiB)`,
        unit: '%',
        value: growth,
        goals: [{ stat: 'value', max: 10, source: '#17' }],
      }),
    );
    const busy = atChurnEnd.find((x) => x.service === e.service);
    if (busy) {
      figures.push({
        id: `soak.${e.service}.rss-growth-at-churn-end`,
        title: `Soak, RSS growth of ${e.service} a period after the churn (${s.rssMiB} → ${busy.rssMiB} MiB)`,
        unit: '%',
        value: Math.round(((busy.rssMiB - s.rssMiB) / s.rssMiB) * 1000) / 10,
        note: 'no goal: the high-water mark a process holds until its event loop is quiet for a check',
      });
    }
    // The second half alone, busy to busy (the series' middle reading, taken during the
    // churn, to the one a period after it): whether the growth levels off (a warm-up) or goes on (a leak).
    const churning = series.slice(0, -1);
    const mid = churning[Math.floor((churning.length - 1) / 2)]?.rssMiB[e.service];
    const last = busy?.rssMiB ?? e.rssMiB;
    if (mid !== undefined && churning.length >= 3) {
      figures.push({
        id: `soak.${e.service}.rss-growth-second-half`,
        title: `Soak, RSS growth of ${e.service} over the second half (${mid} → ${last} MiB)`,
        unit: '%',
        value: Math.round(((last - mid) / mid) * 1000) / 10,
        note: 'no goal: tells a warm-up that levels off from a leak that goes on',
      });
    }
  }
  return {
    scenario: 'soak',
    title: 'Soak',
    figures,
    notes: [
      `${opts.pods} pods, each replaced every ${opts.periodMs / 1000} s for ${Math.round(opts.durationMs / 60_000)} min: ${created} pods created (${failedCreates} creations refused).`,
      `RSS at the start is measured once the first pods ran a period; at the end, ${SETTLE_MS / 1000} s after the last replacement (the 100 pods still running), and a period after it ("at churn end", no goal).`,
    ],
    details: { start, atChurnEnd, end, series, created, failedCreates },
    startedAt: startedAt.toISOString(),
    durationMs: Date.now() - startedAt.getTime(),
  };
}
