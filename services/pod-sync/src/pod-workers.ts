import type { V1Pod } from '@kubernetes/client-node';

/**
 * Syncs one pod; must not throw (errors are its own to report). `statusOnly`: only a
 * probe result changed, so the status may be computed again from what the last sync
 * saw of the runtime, with nothing to do in it (the kubelet reads its PLEG cache).
 */
export type SyncFn = (pod: V1Pod, statusOnly: boolean) => Promise<void>;

interface Worker {
  pending: V1Pod | undefined;
  /** Every trigger of the pending sync asked for the status only. */
  pendingStatusOnly: boolean;
  running: boolean;
}

/**
 * One worker per pod UID, as pod_workers.go: a pod is never synced by two workers
 * at once, and an update that arrives while a sync runs replaces any older pending
 * one, so the worker sees the latest spec, not every spec in between.
 */
export class PodWorkers {
  private readonly workers = new Map<string, Worker>();

  constructor(private readonly sync: SyncFn) {}

  update(pod: V1Pod, opts: { statusOnly?: boolean } = {}): void {
    const uid = pod.metadata?.uid;
    if (!uid) return;
    const w = this.workers.get(uid) ?? { pending: undefined, pendingStatusOnly: false, running: false };
    this.workers.set(uid, w);
    // A full sync asked for earlier (or now) is not narrowed by a status-only one.
    w.pendingStatusOnly = (w.pending === undefined || w.pendingStatusOnly) && Boolean(opts.statusOnly);
    w.pending = pod;
    if (!w.running) void this.loop(uid, w);
  }

  /** Forgets a pod once its worker has nothing left to do. */
  forget(uid: string): void {
    const w = this.workers.get(uid);
    if (w && !w.running && !w.pending) this.workers.delete(uid);
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
    try {
      while (w.pending) {
        const pod = w.pending;
        const statusOnly = w.pendingStatusOnly;
        w.pending = undefined;
        w.pendingStatusOnly = false;
        await this.sync(pod, statusOnly);
      }
    } finally {
      w.running = false;
    }
  }
}
