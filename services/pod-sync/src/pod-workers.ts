import type { V1Pod } from '@kubernetes/client-node';

/**
 * What a sync says about the next one: `retry` when something failed or waits (the
 * kubelet's SyncPod returning an error: a container that could not start, a crash
 * loop back-off, a volume not set up), `dueInMs` when the pod must be synced again by
 * then whatever happens (an active deadline), `refresh` when the pod has volumes whose
 * sources may change (ConfigMaps, Secrets, tokens) and should be refreshed between syncs.
 */
export interface SyncResult {
  retry?: boolean;
  dueInMs?: number;
  refresh?: boolean;
}

/**
 * Syncs one pod; must not throw (errors are its own to report). `statusOnly`: only a
 * probe result changed, so the status may be computed again from what the last sync
 * saw of the runtime, with nothing to do in it (the kubelet reads its PLEG cache).
 */
export type SyncFn = (pod: V1Pod, statusOnly: boolean, signal: AbortSignal) => Promise<SyncResult | void>;

export interface ResyncOptions {
  /** A pod whose sync went well is synced again after this, plus up to half of it (the kubelet's syncFrequency, jitter 0.5). */
  resyncMs: number;
  /** A pod whose sync asked to retry is synced again after this, plus up to half of it (the kubelet's backOffPeriod). */
  retryMs: number;
  /** Between two syncs, a pod that asked for it has its volumes refreshed this often (never while it syncs). */
  refreshMs: number;
  refresh(pod: V1Pod): Promise<void>;
  /** The pod's current copy (the informer's), or undefined once it is gone. */
  latest(pod: V1Pod): V1Pod | undefined;
  random?: () => number;
}

interface Worker {
  pending: V1Pod | undefined;
  /** Every trigger of the pending sync asked for the status only. */
  pendingStatusOnly: boolean;
  running: boolean;
  /** Aborts the running sync (the pod began terminating meanwhile). */
  cancel?: AbortController;
  /** The copy last synced: the resync asks for its newer version. */
  last?: V1Pod;
  timer?: NodeJS.Timeout;
  /** When the next sync is due (ms since the epoch) and whether to refresh until then. */
  syncAt?: number;
  refresh?: boolean;
  /** Settles when what runs now (a sync loop, a volume refresh) is over. */
  busy?: Promise<void>;
  /** The pod is gone from the API server: nothing more is synced, its final task runs next. */
  removed?: boolean;
}

/**
 * One worker per pod UID, as pod_workers.go: a pod is never synced by two workers
 * at once, and an update that arrives while a sync runs replaces any older pending
 * one, so the worker sees the latest spec, not every spec in between; a pod that
 * begins terminating cancels its running sync (the signal it was given). With resync
 * options each pod is synced again on its own timer once its sync is done (the
 * kubelet's work queue): after resyncMs (+ jitter), or retryMs (+ jitter) when the
 * sync asked to retry, or sooner when it said the pod is due; until then its volumes
 * are refreshed every refreshMs if it asked for that.
 */
export class PodWorkers {
  private readonly workers = new Map<string, Worker>();
  private stopped = false;

  constructor(
    private readonly sync: SyncFn,
    private readonly resync?: ResyncOptions,
  ) {}

  /** Whether this replica syncs the pod now (its shard is held here): an update of another's pod is no one's here. */
  owns: (pod: V1Pod) => boolean = () => true;

  update(pod: V1Pod, opts: { statusOnly?: boolean } = {}): void {
    const uid = pod.metadata?.uid;
    if (!uid || this.stopped || !this.owns(pod)) return;
    const w = this.workers.get(uid) ?? { pending: undefined, pendingStatusOnly: false, running: false };
    if (w.removed) return;
    this.workers.set(uid, w);
    clearTimeout(w.timer);
    w.timer = undefined;
    // A full sync asked for earlier (or now) is not narrowed by a status-only one.
    w.pendingStatusOnly = (w.pending === undefined || w.pendingStatusOnly) && Boolean(opts.statusOnly);
    w.pending = pod;
    // As pod_workers.go UpdatePod: a pod that began terminating cancels the sync that
    // runs (an image pull, a postStart hook, a start), so its termination starts now.
    if (w.running && w.cancel && !w.last?.metadata?.deletionTimestamp && pod.metadata?.deletionTimestamp) w.cancel.abort();
    if (!w.running) w.busy = this.loop(uid, w);
  }

  /**
   * The pod is gone from the API server (pod_workers.go's removal of a pod that has
   * terminated): its pending sync is dropped and no update starts another; `final` (its
   * cleanup) runs in the worker's turn — after the sync or refresh that runs now, never
   * beside it, and never followed by a sync that would record the pod again — and then
   * the worker is forgotten. Resolves (or rejects) with `final`.
   */
  async remove(uid: string, final: () => Promise<void>): Promise<void> {
    const w = this.workers.get(uid);
    if (!w) return final();
    w.removed = true;
    w.pending = undefined;
    w.pendingStatusOnly = false;
    clearTimeout(w.timer);
    w.timer = undefined;
    try {
      // A loop may hand over to another (a refresh that found a sync pending): wait out each.
      while (w.running) await w.busy;
      await final();
    } finally {
      if (this.workers.get(uid) === w) this.workers.delete(uid);
    }
  }

  /** The pods that have a worker. */
  uids(): string[] {
    return [...this.workers.keys()];
  }

  has(uid: string): boolean {
    return this.workers.has(uid);
  }

  /** Forgets a pod once its worker has nothing left to do. */
  forget(uid: string): void {
    const w = this.workers.get(uid);
    if (w && !w.running && !w.pending) {
      clearTimeout(w.timer);
      this.workers.delete(uid);
    }
  }

  /**
   * Lets the pods go (another syncs them now): their pending syncs and timers are
   * dropped, no update starts another, the sync under way is cancelled (it stops at its
   * next step, as when its pod begins terminating) and finishes, and then their workers
   * are forgotten. Resolves once none of them runs.
   */
  async release(uids: Iterable<string>): Promise<void> {
    const leaving: [string, Worker][] = [];
    for (const uid of uids) {
      const w = this.workers.get(uid);
      if (!w) continue;
      w.removed = true;
      w.pending = undefined;
      w.pendingStatusOnly = false;
      clearTimeout(w.timer);
      w.timer = undefined;
      // The sync under way stops at its next step (a pull, a start, a wait for its admission): the next holder goes on from what it left.
      w.cancel?.abort();
      leaving.push([uid, w]);
    }
    await Promise.all(
      leaving.map(async ([uid, w]) => {
        while (w.running) await w.busy;
        if (this.workers.get(uid) === w) this.workers.delete(uid);
      }),
    );
  }

  /** Resolves once no sync or refresh runs (after stop, none starts again). */
  async settled(): Promise<void> {
    for (;;) {
      const busy = [...this.workers.values()].filter((w) => w.running).map((w) => w.busy);
      if (!busy.length) return;
      await Promise.all(busy);
    }
  }

  /** No more syncs start (a running one finishes); timers are cleared. */
  stop(): void {
    this.stopped = true;
    for (const w of this.workers.values()) clearTimeout(w.timer);
  }

  get size(): number {
    return this.workers.size;
  }

  /** Resolves when no worker runs or has anything pending (tests). */
  get idle(): boolean {
    return [...this.workers.values()].every((w) => !w.running && !w.pending);
  }

  private async loop(uid: string, w: Worker): Promise<void> {
    w.running = true;
    let result: SyncResult | void = undefined;
    // Only status-only syncs: the schedule the last full sync set stands (a retry due
    // in a crash-loop back-off is not pushed back to the resync period).
    let full = false;
    while (w.pending && !this.stopped) {
      const pod = w.pending;
      const statusOnly = w.pendingStatusOnly;
      w.pending = undefined;
      w.pendingStatusOnly = false;
      w.last = pod;
      if (!statusOnly) full = true;
      w.cancel = new AbortController();
      try {
        const r = await this.sync(pod, statusOnly, w.cancel.signal);
        if (!statusOnly) result = r;
      } catch {
        // Retried soon, unless an update that came meanwhile (its termination) runs now:
        // left pending after the loop, it would wait for yet another update.
        result = { retry: true };
        full = true;
      }
    }
    w.running = false;
    w.cancel = undefined;
    if (!this.resync) return;
    if (!full && w.syncAt !== undefined) return this.arm(uid, w);
    const { resyncMs, retryMs, random = Math.random } = this.resync;
    const r = result ?? {};
    const base = r.retry ? retryMs : resyncMs;
    w.syncAt = Date.now() + Math.min(base + random() * base * 0.5, r.dueInMs ?? Infinity);
    w.refresh = (r.refresh ?? false) && !r.retry; // a retry comes soon anyway
    this.arm(uid, w);
  }

  /** Sets the worker's timer: the next sync, or a volume refresh before it. */
  private arm(uid: string, w: Worker): void {
    if (!this.resync || this.stopped || w.removed || this.workers.get(uid) !== w || w.running || w.pending || w.syncAt === undefined) return;
    const now = Date.now();
    const { refreshMs, latest } = this.resync;
    const syncIn = Math.max(0, w.syncAt - now);
    const refreshFirst = w.refresh && refreshMs < syncIn;
    clearTimeout(w.timer);
    w.timer = setTimeout(
      () => {
        w.timer = undefined;
        const pod = w.last && latest(w.last);
        if (!pod) this.forget(uid); // gone from the API server: its deletion cleans up
        else if (refreshFirst) w.busy = this.refreshVolumes(uid, w, pod);
        else this.update(pod);
      },
      refreshFirst ? refreshMs : syncIn,
    );
    w.timer.unref?.();
  }

  private async refreshVolumes(uid: string, w: Worker, pod: V1Pod): Promise<void> {
    if (w.running || w.pending || this.stopped) return;
    w.running = true;
    try {
      await this.resync!.refresh(pod);
    } catch {
      // the next sync sees it
    } finally {
      w.running = false;
    }
    if (w.pending) await this.loop(uid, w);
    else this.arm(uid, w);
  }
}
