import { equals } from '@bufbuild/protobuf';
import type { KV } from '@nats-io/kv';
import { kvEntries, MAX_VIEW_VERSION_AHEAD_MS, watchBucket } from '@splitlet/bus';
import { PodProbeViewSchema, ProbeSchema, type PodProbeView } from '@splitlet/contracts';
import { Membership, rendezvousOwner, type Clock, type ReplicaSettings, type Runnable } from '@splitlet/service';
import type { Logger } from '@splitlet/telemetry';
import type { NodePods } from './node-pods';
import { PROBE_KINDS } from './probe-kind';
import type { ProberMetrics } from './metrics';
import type { Prober } from './prober';
import type { ProbeResults } from './results';
import { checkView, type ViewRefusal } from './view-checks';
import { ProbeWorker } from './worker';


export interface ProbeManagerOptions {
  /** SPLITLET_PODS_<node>: pod-sync's PodProbeView per pod UID. */
  podsKv: KV;
  /** SPLITLET_PROBERS_<node>: the live replicas (opened with the replica TTL). */
  replicasKv: KV;
  /** The results bucket, loaded (see KvProbeResults.start). */
  results: ProbeResults;
  replica: ReplicaSettings;
  prober: Prober;
  clock: Clock;
  logger: Logger;
  /** In [0, 1): the first-probe jitter after a start. */
  random: () => number;
  /** What the workers count for /metrics/probes. */
  metrics: ProberMetrics;
  /** How often the pods view is read again in full (a watch may have missed something). */
  resyncMs: number;
  /**
   * The API server's pods of this node: a view is acted on only where it agrees with
   * its pod (view-checks.ts). Unset (no KUBECONFIG): views are taken as they are.
   */
  nodePods?: NodePods;
}

/**
 * The kubelet's probe manager across replicas: follows the pods view, and runs a
 * worker per (pod, container, probe kind) for the pods this replica owns by
 * rendezvous hashing over the live replicas. A pod that is gone has its results
 * deleted by its owner.
 */
export class ProbeManager implements Runnable {
  private readonly pods = new Map<string, PodProbeView>();
  /** Workers by pod UID, then by `<container>.<kind>`. */
  private readonly workers = new Map<string, Map<string, ProbeWorker>>();
  private readonly membership: Membership;
  private startedAt = 0;
  private running = false;
  /** Views not acted on, by why; each (pod, view version) counted once. */
  readonly refused: Record<ViewRefusal, number> = { 'not-bound': 0, 'identity-mismatch': 0, 'probe-mismatch': 0, 'pod-ip-mismatch': 0 };
  private readonly refusedVersions = new Map<string, bigint>();
  /** Views dropped for a version further ahead of this replica's clock than pod-sync's can be. */
  versionsAhead = 0;

  constructor(private readonly o: ProbeManagerOptions) {
    this.membership = new Membership(o.replicasKv, o.replica, o.clock, o.logger, () => this.resyncAll());
    o.nodePods?.onChange((uid) => {
      if (this.running) void this.syncPod(uid).catch((err: unknown) => this.o.logger.error({ err, pod: uid }, 'pod probe sync failed'));
    });
  }

  /** Pod UIDs this replica probes now. */
  ownedPods(): string[] {
    return [...this.workers.keys()];
  }

  workerFor(podUid: string, container: string, kind: string): ProbeWorker | undefined {
    return this.workers.get(podUid)?.get(`${container}.${kind}`);
  }

  async run(signal: AbortSignal): Promise<void> {
    for (const [uid, view] of await kvEntries(this.o.podsKv, PodProbeViewSchema)) this.pods.set(uid, view);
    await this.membership.join();
    this.startedAt = this.o.clock.now();
    this.running = true;
    this.resyncAll();
    const watching = watchBucket(this.o.podsKv, PodProbeViewSchema, (uid, view) => this.onPodView(uid, view), { logger: this.o.logger, signal });
    await Promise.all([watching, this.membership.run(signal), this.resyncLoop(signal)]);
    this.running = false;
    await Promise.all([...this.workers.keys()].map((uid) => this.stopPod(uid)));
  }

  private async onPodView(uid: string, view: PodProbeView | undefined): Promise<void> {
    const known = this.pods.get(uid);
    if (view && this.versionAhead(uid, view)) return;
    if (view && known && view.version < known.version) return; // an older view than one already seen
    if (view) this.pods.set(uid, view);
    else this.pods.delete(uid);
    await this.syncPod(uid);
  }

  /** Level-triggered: every resyncMs the whole view is read again and every pod synced. */
  private async resyncLoop(signal: AbortSignal): Promise<void> {
    for (;;) {
      try {
        await this.o.clock.sleep(this.o.resyncMs, signal);
      } catch {
        return;
      }
      try {
        await this.reload();
      } catch (err) {
        this.o.logger.warn({ err }, 'pods view resync failed');
      }
    }
  }

  private async reload(): Promise<void> {
    const known = new Set(this.pods.keys());
    const views = await kvEntries(this.o.podsKv, PodProbeViewSchema);
    // Only pods known before the read began can be missing for good: a newer one came by the watch meanwhile.
    for (const uid of known) if (!views.has(uid)) this.pods.delete(uid);
    for (const [uid, view] of views) {
      if (this.versionAhead(uid, view)) continue;
      const seen = this.pods.get(uid);
      if (!seen || view.version >= seen.version) this.pods.set(uid, view);
    }
    this.resyncAll();
  }

  /**
   * A view's version is pod-sync's clock in µs; one further ahead of this clock than
   * MAX_VIEW_VERSION_AHEAD_MS is dropped (the view known stays): as the newest, it would
   * hide every genuine view of the pod after it (the fuzz test put 2^63 - 1).
   */
  private versionAhead(uid: string, view: PodProbeView): boolean {
    if (view.version <= BigInt(Math.floor(this.o.clock.now()) + MAX_VIEW_VERSION_AHEAD_MS) * 1000n) return false;
    const n = ++this.versionsAhead;
    if ((n & (n - 1)) === 0) this.o.logger.warn({ pod: uid.slice(0, 64), version: String(view.version), count: n }, 'probe view dropped: its version is ahead of the clock');
    return true;
  }

  private resyncAll(): void {
    if (!this.running) return;
    const uids = new Set([...this.pods.keys(), ...this.workers.keys(), ...this.o.results.podUids()]);
    for (const uid of uids) void this.syncPod(uid).catch((err: unknown) => this.o.logger.error({ err, pod: uid }, 'pod probe sync failed'));
  }

  private owns(uid: string): boolean {
    return rendezvousOwner(uid, this.membership.members) === this.o.replica.id;
  }

  /**
   * The pod's view and whether it may be acted on. Before the first list of the
   * node's pods nothing can be checked, so nothing is probed (as the kubelet, whose
   * probe workers start from the pods the API server gives it).
   */
  private checked(uid: string): { view: PodProbeView | undefined; refusal?: ViewRefusal | 'unchecked' } {
    const view = this.pods.get(uid);
    const pods = this.o.nodePods;
    if (!view || !pods) return { view };
    if (!pods.synced) return { view, refusal: 'unchecked' };
    // The first refusal, unless one of the pods the UID could stand for agrees (a static pod's mirror among forged ones).
    const refusals = (pods.candidates?.(uid) ?? [pods.byUid(uid)]).map((p) => checkView(view, p));
    const refusal = refusals.length === 0 ? checkView(view, undefined) : refusals.includes(undefined) ? undefined : refusals[0];
    if (refusal && this.refusedVersions.get(uid) !== view.version) {
      this.refusedVersions.set(uid, view.version);
      const n = ++this.refused[refusal];
      // Who and why, never the probes; at the 1st, 2nd, 4th… of each kind.
      if ((n & (n - 1)) === 0) this.o.logger.warn({ pod: uid.slice(0, 64), reason: refusal, count: n }, 'probe view not acted on: it does not agree with the API server');
    }
    if (!refusal) this.refusedVersions.delete(uid);
    return { view, refusal };
  }

  /** Brings one pod's workers (and, for a gone pod, its results) in line with the view and ownership. */
  private async syncPod(uid: string): Promise<void> {
    const { view: seen, refusal } = this.checked(uid);
    const view = refusal ? undefined : seen;
    const owned = this.owns(uid);
    if (!view || !owned) {
      await this.stopPod(uid);
      // Results go with the pod: no view, or none of this node's pods has that UID.
      if ((!seen || refusal === 'not-bound') && owned) await this.o.results.deletePod(uid);
      if (!seen) this.refusedVersions.delete(uid);
      return;
    }
    const current = this.workers.get(uid) ?? new Map<string, ProbeWorker>();
    this.workers.set(uid, current);
    const wanted = new Set<string>();
    for (const c of view.containers) {
      for (const kind of PROBE_KINDS) {
        const spec = c[kind];
        if (!spec) continue;
        const key = `${c.name}.${kind}`;
        wanted.add(key);
        const w = current.get(key);
        if (w && equals(ProbeSchema, w.spec, spec)) {
          w.update(view);
          continue;
        }
        if (w) void w.stop();
        const worker = new ProbeWorker(
          { clock: this.o.clock, prober: this.o.prober, results: this.o.results, logger: this.o.logger, random: this.o.random, metrics: this.o.metrics },
          view,
          c.name,
          kind,
          spec,
        );
        current.set(key, worker);
        // The kubelet's jitter only while the prober itself has just started.
        worker.start({ jitter: this.o.clock.now() - this.startedAt < worker.timing.periodSeconds * 1000 });
      }
    }
    for (const [key, w] of current) {
      if (wanted.has(key)) continue;
      current.delete(key);
      void w.stop();
    }
  }

  private async stopPod(uid: string): Promise<void> {
    const ws = this.workers.get(uid);
    if (!ws) return;
    this.workers.delete(uid);
    await Promise.all([...ws.values()].map((w) => w.stop()));
  }
}
