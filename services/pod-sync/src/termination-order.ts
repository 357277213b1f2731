import type { V1Pod } from '@kubernetes/client-node';
import type { Clock } from '@splitlet/service';

/** A container's "has exited" signal, given once. */
interface Exited {
  promise: Promise<void>;
  resolve: () => void;
}

const exitedSignal = (): Exited => {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
};

/**
 * The kubelet's terminationOrdering (kuberuntime_termination_order.go) for a pod with
 * sidecars (restartable init containers): all of the pod's containers are killed at
 * once, but a sidecar gets its stop signal only once every app container that was
 * running has exited, and then each sidecar only once the sidecars declared after it
 * have exited — reverse order — so the app containers (and their preStop hooks) can
 * still reach the sidecars. Waiting never outlasts the grace period.
 */
export class TerminationOrdering {
  private readonly exited = new Map<string, Exited>();
  private readonly prereqs = new Map<string, Promise<void>[]>();

  /** running: the names of the pod's containers that run now (the others are not waited for). */
  constructor(
    pod: V1Pod,
    running: readonly string[],
    private readonly clock: Clock,
  ) {
    const isRunning = new Set(running);
    const signal = (name: string) => {
      const s = exitedSignal();
      this.exited.set(name, s);
      if (!isRunning.has(name)) s.resolve();
      return s.promise;
    };
    const apps = (pod.spec?.containers ?? []).map((c) => signal(c.name));
    let later: Promise<void> | undefined;
    for (const c of [...(pod.spec?.initContainers ?? [])].reverse()) {
      const exited = signal(c.name);
      if (c.restartPolicy !== 'Always') continue;
      this.prereqs.set(c.name, later ? [...apps, later] : apps);
      later = exited;
    }
  }

  /**
   * Waits until the container may be stopped, at most graceSeconds (no wait for a
   * grace of 0). Resolves to the seconds waited, which the caller takes off the grace.
   */
  async waitForTurn(name: string, graceSeconds: number): Promise<number> {
    if (graceSeconds <= 0) return 0;
    const start = this.clock.now();
    const expired = new AbortController();
    try {
      await Promise.race([Promise.all(this.prereqs.get(name) ?? []), this.clock.sleep(graceSeconds * 1000, expired.signal).catch(() => undefined)]);
    } finally {
      expired.abort();
    }
    return (this.clock.now() - start) / 1000;
  }

  /** The container has exited: those waiting for it may go. */
  containerTerminated(name: string): void {
    this.exited.get(name)?.resolve();
  }
}
