import type { KubeConfig, V1Pod } from '@kubernetes/client-node';
import { PodInformer } from '@splitlet/kube';
import { untilAborted, type Runnable } from '@splitlet/service';
import type { Logger } from '@splitlet/telemetry';

/** The pods the API server binds to this node, against which probe views are checked. */
export interface NodePods {
  /** Whether the first list has come: until then no view can be checked. */
  readonly synced: boolean;
  /** The pod of that UID bound to this node, or undefined. The returned pod is shared: do not mutate it. */
  byUid(uid: string): V1Pod | undefined;
  /** Calls `listener` with a pod's UID whenever it is added, changed or deleted; may be called more than once per change. */
  onChange(listener: (uid: string) => void): void;
}

/** NodePods kept by a list+watch of the node's pods (field selector spec.nodeName). */
export class InformerNodePods implements NodePods, Runnable {
  private readonly pods = new Map<string, V1Pod>();
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
        },
        onDelete: (pod) => {
          const uid = pod.metadata?.uid;
          if (!uid) return;
          this.pods.delete(uid);
          changed(uid);
        },
      },
    );
    void this.informer.synced.then(() => {
      this.synced = true;
      for (const uid of this.pods.keys()) changed(uid);
    });
  }

  byUid(uid: string): V1Pod | undefined {
    return this.pods.get(uid);
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
