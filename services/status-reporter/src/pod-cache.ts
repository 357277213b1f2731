import type { V1Pod } from '@kubernetes/client-node';
import { PodInformer } from '@splitlet/kube';
import type { KubeConfig } from '@kubernetes/client-node';
import type { Runnable } from '@splitlet/service';
import { untilAborted } from '@splitlet/service';
import type { Logger } from '@splitlet/telemetry';

/** The pods bound to the node as the API server has them, by UID (the status manager's pod cache). */
export interface PodCache {
  byUid(uid: string): V1Pod | undefined;
}

/** A PodCache kept by a list+watch of the node's pods. */
export class InformerPodCache implements PodCache, Runnable {
  private readonly pods = new Map<string, V1Pod>();
  private readonly informer: PodInformer;

  constructor(kubeConfig: KubeConfig, nodeName: string, logger: Logger) {
    this.informer = new PodInformer(
      { kubeConfig, nodeName, logger },
      {
        onUpsert: (pod) => void (pod.metadata?.uid && this.pods.set(pod.metadata.uid, pod)),
        onDelete: (pod) => void (pod.metadata?.uid && this.pods.delete(pod.metadata.uid)),
      },
    );
  }

  byUid(uid: string): V1Pod | undefined {
    return this.pods.get(uid);
  }

  async run(signal: AbortSignal): Promise<void> {
    void this.informer.start();
    await untilAborted(signal);
    this.informer.stop();
  }
}
