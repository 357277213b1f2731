import { CoordinationV1Api, CoreV1Api, PatchStrategy, setHeaderOptions, type KubeConfig, type V1Lease, type V1Node } from '@kubernetes/client-node';
import { OwnNodeInformer } from '@splitlet/kube';
import type { Logger } from '@splitlet/telemetry';

/**
 * The API calls the registrar makes — all a node identity may make for its own
 * Node and Lease. client-node provides them; unit tests use an in-memory fake.
 */
export interface NodeApi {
  createNode(node: V1Node): Promise<V1Node>;
  readNode(name: string): Promise<V1Node>;
  /**
   * The Node as a watch of it last showed it (the kubelet's node lister), undefined
   * before the first list; it sees what others wrote, e.g. the node lifecycle
   * controller's Ready Unknown.
   */
  watchedNode(name: string): V1Node | undefined;
  /** Keeps the watch of the Node until signal aborts. */
  watchNode(signal: AbortSignal): void;
  /** A JSON merge patch of nodes/<name>/status (status, and metadata labels/annotations). */
  patchNodeStatus(name: string, patch: object): Promise<V1Node>;
  readLease(namespace: string, name: string): Promise<V1Lease>;
  createLease(namespace: string, lease: V1Lease): Promise<V1Lease>;
  /** An update with the lease's resourceVersion (optimistic concurrency). */
  replaceLease(namespace: string, name: string, lease: V1Lease): Promise<V1Lease>;
}

export function kubeNodeApi(kc: KubeConfig, nodeName: string, logger: Logger): NodeApi {
  const core = kc.makeApiClient(CoreV1Api);
  let watch: OwnNodeInformer | undefined;
  const coordination = kc.makeApiClient(CoordinationV1Api);
  const mergePatch = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);
  return {
    createNode: (body) => core.createNode({ body }),
    readNode: (name) => core.readNode({ name }),
    watchedNode: (name) => watch?.get(name),
    watchNode: (signal) => {
      if (watch || signal.aborted) return;
      const w = new OwnNodeInformer({ kubeConfig: kc, nodeName, logger });
      watch = w;
      // A later term (registrar's election) watches anew: a stopped informer keeps its last Node for good.
      signal.addEventListener(
        'abort',
        () => {
          w.stop();
          if (watch === w) watch = undefined;
        },
        { once: true },
      );
      void w.start(); // retries on its own until stopped
    },
    patchNodeStatus: (name, body) => core.patchNodeStatus({ name, body }, mergePatch),
    readLease: (namespace, name) => coordination.readNamespacedLease({ namespace, name }),
    createLease: (namespace, body) => coordination.createNamespacedLease({ namespace, body }),
    replaceLease: (namespace, name, body) => coordination.replaceNamespacedLease({ namespace, name, body }),
  };
}
