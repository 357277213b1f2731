import { CoreV1Api, PatchStrategy, setHeaderOptions, type CoreV1Event, type KubeConfig, type V1Pod } from '@kubernetes/client-node';

/** The API calls status-reporter makes for pods bound to its node; unit tests fake them. */
export interface PodApi {
  /** A strategic merge patch of pods/<name>/status (conditions merge by type, as the kubelet's). */
  patchPodStatus(namespace: string, name: string, patch: object): Promise<V1Pod>;
  /** Delete with grace period 0 and a UID precondition: completes a graceful deletion. */
  deletePod(namespace: string, name: string, uid: string): Promise<void>;
  createEvent(namespace: string, event: CoreV1Event): Promise<void>;
  /** A strategic merge patch of an Event (its count and lastTimestamp). */
  patchEvent(namespace: string, name: string, patch: object): Promise<void>;
}

export function kubePodApi(kc: KubeConfig): PodApi {
  const core = kc.makeApiClient(CoreV1Api);
  const strategic = setHeaderOptions('Content-Type', PatchStrategy.StrategicMergePatch);
  return {
    patchPodStatus: (namespace, name, body) => core.patchNamespacedPodStatus({ namespace, name, body }, strategic),
    deletePod: async (namespace, name, uid) => {
      await core.deleteNamespacedPod({ namespace, name, gracePeriodSeconds: 0, body: { gracePeriodSeconds: 0, preconditions: { uid } } });
    },
    createEvent: async (namespace, body) => {
      await core.createNamespacedEvent({ namespace, body });
    },
    patchEvent: async (namespace, name, body) => {
      await core.patchNamespacedEvent({ namespace, name, body }, strategic);
    },
  };
}
