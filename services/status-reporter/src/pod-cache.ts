import type { KubeConfig, V1Pod } from '@kubernetes/client-node';
import { PodInformer } from '@splitlet/kube';
import type { Clock, Runnable } from '@splitlet/service';
import { untilAborted } from '@splitlet/service';
import type { Logger } from '@splitlet/telemetry';
import type { GonePods } from './gone-pods';

/** The pods bound to the node as the API server has them, by UID (the status manager's pod cache). */
export interface PodCache {
  byUid(uid: string): V1Pod | undefined;
  /** The pod of that namespace and name bound to this node, if any. */
  byName(namespace: string, name: string): V1Pod | undefined;
  /**
   * The mirror pod of the static pod of that UID (its `kubernetes.io/config.mirror`) under
   * that namespace and name, if any: a static pod's Events name its own UID (a forged
   * annotation on a pod of another name stands for nothing).
   */
  mirrorOf?(staticUid: string, namespace: string, name: string): V1Pod | undefined;
  /** Resolves once the cache holds its first list, with when that list was taken (ms since the epoch). */
  readonly synced?: Promise<number>;
}

/**
 * How long what a producer says of a pod may wait for the pod cache to show it — its
 * pod bound to this node (pod-sync's informer may be ahead of ours; after a restart,
 * everything comes before the first list), or the deletion of a pod reported
 * terminated: longer than pod-sync's resync, which would send a status again anyway.
 * Past it, what waits is refused.
 */
export const CACHE_WAIT_MS = 300_000;
/**
 * How many pods may be waited for so at once (by each of the status manager and the
 * event writer): more than a node runs (the kubelet's default is 110 pods), so a flood
 * of forged UIDs holds little memory.
 */
export const MAX_WAITING_FOR_POD = 128;
/** The first look again at the pod cache; each next one waits twice as long, up to a cap. */
export const CACHE_FIRST_LOOK_MS = 200;

/**
 * Looks at the pod cache until `look` finds what it asks for, again after 200 ms
 * doubling up to `capMs`, until CACHE_WAIT_MS after `since`: undefined past it, or
 * once `signal` aborts. The status manager's drain loop waits the same way (its sleep
 * also wakes for a newer update and shares its back-off with failed writes).
 */
export async function waitForCache<T>(look: () => T | undefined, o: { clock: Clock; since: number; capMs: number; signal?: AbortSignal }): Promise<T | undefined> {
  for (let delay = CACHE_FIRST_LOOK_MS; ; delay = Math.min(delay * 2, o.capMs)) {
    const found = look();
    if (found !== undefined) return found;
    const left = o.since + CACHE_WAIT_MS - o.clock.now();
    if (left <= 0 || o.signal?.aborted) return undefined;
    try {
      await o.clock.sleep(Math.min(delay, left), o.signal);
    } catch {
      return undefined;
    }
  }
}

/** A PodCache kept by a list+watch of the node's pods; the pods it sees deleted are remembered as gone. */
export class InformerPodCache implements PodCache, Runnable {
  private readonly pods = new Map<string, V1Pod>();
  private readonly informer: PodInformer;
  readonly synced: Promise<number>;

  constructor(kubeConfig: KubeConfig, nodeName: string, logger: Logger, gone: GonePods) {
    this.informer = new PodInformer(
      { kubeConfig, nodeName, logger },
      {
        onUpsert: (pod) => void (pod.metadata?.uid && this.pods.set(pod.metadata.uid, pod)),
        onDelete: (pod) => {
          const uid = pod.metadata?.uid;
          if (!uid) return;
          this.pods.delete(uid);
          gone.add({ uid, namespace: pod.metadata?.namespace ?? '', name: pod.metadata?.name ?? '' });
          // A mirror pod's static pod goes with it: its last Events (Killing) name the static pod's UID.
          const shows = pod.metadata?.annotations?.['kubernetes.io/config.mirror'];
          if (shows) gone.add({ uid: shows, namespace: pod.metadata?.namespace ?? '', name: pod.metadata?.name ?? '' });
        },
      },
    );
    // Dated when the list is answered: a status published before it is of a pod it would show.
    this.synced = this.informer.synced.then(() => Date.now());
  }

  byUid(uid: string): V1Pod | undefined {
    return this.pods.get(uid);
  }

  /** A scan, as byName. */
  mirrorOf(staticUid: string, namespace: string, name: string): V1Pod | undefined {
    const pod = this.byName(namespace, name);
    return pod?.metadata?.annotations?.['kubernetes.io/config.mirror'] === staticUid ? pod : undefined;
  }

  /** A scan: a node runs some hundred pods at most. */
  byName(namespace: string, name: string): V1Pod | undefined {
    for (const pod of this.pods.values()) if (pod.metadata?.name === name && pod.metadata.namespace === namespace) return pod;
    return undefined;
  }

  async run(signal: AbortSignal): Promise<void> {
    void this.informer.start();
    await untilAborted(signal);
    this.informer.stop();
  }
}
