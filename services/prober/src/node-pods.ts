import type { KubeConfig, V1Pod } from '@kubernetes/client-node';
import { PodInformer } from '@splitlet/kube';
import { untilAborted, type Runnable } from '@splitlet/service';
import type { Logger } from '@splitlet/telemetry';

/** The pods the API server binds to this node, against which probe views are checked. */
export interface NodePods {
  /** Whether the first list has come: until then no view can be checked. */
  readonly synced: boolean;
  /**
   * The pod of that UID bound to this node, or undefined; for a static pod's UID (its
   * `kubernetes.io/config.hash`), its mirror pod (`kubernetes.io/config.mirror` = that
   * UID: the API server's copy of its spec). The returned pod is shared: do not mutate it.
   */
  byUid(uid: string): V1Pod | undefined;
  /**
   * Every pod byUid could stand for: the pod of that UID, else every mirror pod that
   * names it (a pod anyone may create could carry the annotation too: the view's own name
   * and namespace pick the real one).
   */
  candidates?(uid: string): V1Pod[];
  /** Calls `listener` with a pod's UID whenever it is added, changed or deleted; may be called more than once per change. */
  onChange(listener: (uid: string) => void): void;
}

/** The static pod UID a mirror pod shows (its `kubernetes.io/config.mirror`), if it is one. */
const mirrorOf = (pod: V1Pod): string | undefined => pod.metadata?.annotations?.['kubernetes.io/config.mirror'] || undefined;

/** NodePods kept by a list+watch of the node's pods (field selector spec.nodeName). */
export class InformerNodePods implements NodePods, Runnable {
  private readonly pods = new Map<string, V1Pod>();
  /** Mirror pods (by their own UID) by the UID of the static pod they show. */
  private readonly mirrors = new Map<string, Map<string, V1Pod>>();
  private readonly listeners: ((uid: string) => void)[] = [];
  private readonly informer: PodInformer;
  synced = false;

  constructor(kubeConfig: KubeConfig, nodeName: string, logger: Logger) {
    const changed = (uid: string) => this.listeners.forEach((l) => l(uid));
    this.informer = new PodInformer(
      { kubeConfig, nodeName, logger },
      {
        onUpsert: (pod) => {
          const uid = pod.metadata?.uid;
          if (!uid) return;
          this.pods.set(uid, pod);
          changed(uid);
          const shows = mirrorOf(pod);
          if (shows) {
            const all = this.mirrors.get(shows) ?? new Map<string, V1Pod>();
            all.set(uid, pod);
            this.mirrors.set(shows, all);
            changed(shows);
          }
        },
        onDelete: (pod) => {
          const uid = pod.metadata?.uid;
          if (!uid) return;
          this.pods.delete(uid);
          changed(uid);
          const shows = mirrorOf(pod);
          const all = shows ? this.mirrors.get(shows) : undefined;
          if (shows && all?.delete(uid)) {
            if (!all.size) this.mirrors.delete(shows);
            changed(shows);
          }
        },
      },
    );
    void this.informer.synced.then(() => {
      this.synced = true;
      for (const uid of this.pods.keys()) changed(uid);
    });
  }

  byUid(uid: string): V1Pod | undefined {
    return this.candidates(uid)[0];
  }

  candidates(uid: string): V1Pod[] {
    const own = this.pods.get(uid);
    return own ? [own] : [...(this.mirrors.get(uid)?.values() ?? [])];
  }

  onChange(listener: (uid: string) => void): void {
    this.listeners.push(listener);
  }

  async run(signal: AbortSignal): Promise<void> {
    void this.informer.start();
    await untilAborted(signal);
    this.informer.stop();
  }
}
