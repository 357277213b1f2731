import { allRunning, benchPod, sleep, UNTIL_SIGTERM } from '../kube';
import { withNamespace, type BenchContext } from '../context';
import { latencyFigure, type ScenarioResult } from '../result';

export interface DeletionOptions {
  pods: number;
  timeoutMs: number;
}

/**
 * Deletion: a running pod whose container exits on SIGTERM is deleted (default
 * grace period, 30 s) → the watch sees it DELETED, i.e. the node stopped the
 * container, reported it and completed the deletion (delete with grace 0). One pod
 * at a time, so each deletion has the node to itself.
 */
export async function deletion(ctx: BenchContext, opts: DeletionOptions): Promise<ScenarioResult> {
  const startedAt = new Date();
  const samples: number[] = [];
  let failures = 0;
  await withNamespace(ctx, 'deletion', async (ns) => {
    const names = Array.from({ length: opts.pods }, (_, i) => `del-${i}`);
    ctx.log(`deletion: ${opts.pods} pods`);
    await Promise.all(names.map((n) => ns.create(benchPod(n, ctx.node.nodeName, UNTIL_SIGTERM))));
    const running = await Promise.all(names.map((n) => ns.tracker.first(n, (e) => e.type !== 'DELETED' && allRunning(e.pod), opts.timeoutMs)));
    await sleep(1000);
    for (const [i, name] of names.entries()) {
      if (!running[i]) {
        failures++;
        continue;
      }
      const sent = Date.now();
      await ctx.cluster.core.deleteNamespacedPod({ namespace: ns.name, name });
      const gone = await ns.tracker.first(name, (e) => e.type === 'DELETED', opts.timeoutMs, sent);
      if (gone) samples.push(gone.at - sent);
      else failures++;
    }
  });
  const figure = latencyFigure('deletion', 'Pod delete → object gone (watch DELETED), container exits on SIGTERM', samples, {
    note: 'from the harness clock just before the DELETE request to the receive time of the DELETED watch event',
    ...(failures ? { failures } : {}),
    ...(samples.length === 0 ? { na: 'no pod ran or was finalized within the timeout' } : {}),
  });
  return {
    scenario: 'deletion',
    title: 'Deletion',
    figures: [figure],
    notes: ['No goal is set in the issues for this figure.'],
    startedAt: startedAt.toISOString(),
    durationMs: Date.now() - startedAt.getTime(),
  };
}
