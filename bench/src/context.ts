import type { V1Pod } from '@kubernetes/client-node';
import type { NodeUnderTest } from './node';
import { PodTracker, randomSuffix, sleep, type Cluster } from './kube';

/** Things to undo, last first; run once, on success, failure or Ctrl-C. */
export class Cleanup {
  private readonly steps: { what: string; fn: () => Promise<void> }[] = [];
  private running: Promise<void> | undefined;

  add(what: string, fn: () => Promise<void>): () => void {
    const step = { what, fn };
    this.steps.push(step);
    return () => {
      const i = this.steps.indexOf(step);
      if (i >= 0) this.steps.splice(i, 1);
    };
  }

  run(log: (m: string) => void): Promise<void> {
    this.running ??= (async () => {
      while (this.steps.length) {
        const step = this.steps.pop()!;
        try {
          await step.fn();
        } catch (err) {
          log(`cleanup: ${step.what} failed: ${String(err)}`);
        }
      }
    })();
    return this.running;
  }
}

export interface BenchContext {
  cluster: Cluster;
  node: NodeUnderTest;
  cleanup: Cleanup;
  log: (m: string) => void;
}

/** A fresh namespace, watched, for one scenario; its pods are deleted (and waited for) afterwards. */
export interface BenchNamespace {
  name: string;
  tracker: PodTracker;
  create(pod: V1Pod): Promise<number>;
}

/**
 * Runs fn with a fresh namespace `splitlet-bench-<label>-<hex>` and a watch on its
 * pods. Afterwards (also when fn throws, or on Ctrl-C through the cleanup) the
 * namespace is deleted and its pods are waited for while the node still runs, so
 * the node finalizes them itself; pods left after 120 s are force-deleted.
 */
export async function withNamespace<T>(ctx: BenchContext, label: string, fn: (ns: BenchNamespace) => Promise<T>): Promise<T> {
  const name = `splitlet-bench-${label}-${randomSuffix()}`;
  const { core } = ctx.cluster;
  await core.createNamespace({ body: { metadata: { name, labels: { 'splitlet.bench': 'true' } } } });
  const tracker = new PodTracker(ctx.cluster, name);
  const remove = async () => {
    tracker.stop();
    await deleteNamespace(ctx, name);
  };
  const unregister = ctx.cleanup.add(`namespace ${name}`, remove);
  try {
    await tracker.start();
    return await fn({
      name,
      tracker,
      async create(pod) {
        const sent = Date.now();
        await core.createNamespacedPod({ namespace: name, body: pod });
        return sent;
      },
    });
  } finally {
    unregister();
    await remove();
  }
}

async function deleteNamespace(ctx: BenchContext, name: string): Promise<void> {
  const { core } = ctx.cluster;
  await core.deleteCollectionNamespacedPod({ namespace: name }).catch(() => undefined);
  const deadline = Date.now() + 120_000;
  let left = (await core.listNamespacedPod({ namespace: name })).items;
  while (left.length && Date.now() < deadline) {
    await sleep(500);
    left = (await core.listNamespacedPod({ namespace: name })).items;
  }
  if (left.length) {
    ctx.log(`namespace ${name}: ${left.length} pod(s) still there after 120 s; force-deleting them`);
    await Promise.all(
      left.map((p) => core.deleteNamespacedPod({ namespace: name, name: p.metadata!.name!, gracePeriodSeconds: 0 }).catch(() => undefined)),
    );
  }
  await core.deleteNamespace({ name }).catch(() => undefined);
  // Wait for the namespace controller too, so its clean-up requests do not fall into the next scenario.
  const nsDeadline = Date.now() + 60_000;
  while (Date.now() < nsDeadline && (await core.readNamespace({ name }).then(() => true, () => false))) await sleep(500);
}

/** Deletes many pods and waits until the watch has seen each one gone (or timeoutMs). */
export async function deleteAndWait(ctx: BenchContext, ns: BenchNamespace, names: string[], timeoutMs = 120_000): Promise<void> {
  const since = Date.now();
  await Promise.all(names.map((n) => ctx.cluster.core.deleteNamespacedPod({ namespace: ns.name, name: n }).catch(() => undefined)));
  await Promise.all(names.map((n) => ns.tracker.first(n, (e) => e.type === 'DELETED', timeoutMs, since)));
}
