import type { CoreV1Api, V1NodeSelectorTerm, V1PersistentVolume, V1PersistentVolumeClaim, V1Pod, V1Volume } from '@kubernetes/client-node';
import { describeApiError, isNotFound, whileNodeGraphLags } from '@splitlet/kube';
import { matchesNodeSelectorTerms } from '../admission-fit';

// A pod's persistentVolumeClaim volume, as the kubelet's volume manager resolves it
// (desired_state_of_world_populator.go: the claim, then its bound PV) and as its
// `local` and `hostPath` plugins mount it. CSI and the other PV types have no plugin
// here (`no volume plugin matched`); a plugin is one more case of resolvePlugin.

/** The PVC protection finalizer (volume/util.PVCProtectionFinalizer). */
const PVC_PROTECTION = 'kubernetes.io/pvc-protection';

/** The PersistentVolumeClaims and PersistentVolumes the Node authorizer lets a node get: those of its pods. */
export interface ClaimSource {
  claim(namespace: string, name: string): Promise<V1PersistentVolumeClaim>;
  volume(name: string): Promise<V1PersistentVolume>;
}

/** Read through the API server each time (the kubelet's populator gets them directly too); a pod bound a moment ago may be refused for a moment. */
export class ApiClaimSource implements ClaimSource {
  constructor(private readonly api: CoreV1Api) {}

  claim(namespace: string, name: string): Promise<V1PersistentVolumeClaim> {
    return whileNodeGraphLags(() => this.api.readNamespacedPersistentVolumeClaim({ namespace, name }));
  }

  volume(name: string): Promise<V1PersistentVolume> {
    return whileNodeGraphLags(() => this.api.readPersistentVolume({ name }));
  }
}

/**
 * Why a claim's volume is not ready. `process`: the populator could not make the
 * volume's spec (the pod's "Unable to attach or mount volumes" Event gathers these);
 * `mount`: the plugin refused it (a FailedMount Event of its own, message as is).
 */
export class ClaimVolumeError extends Error {
  constructor(
    /** `wait`: nothing is wrong yet (the node's own labels not read): no Event, the next sync looks again. */
    readonly kind: 'process' | 'mount' | 'wait',
    message: string,
  ) {
    super(message);
  }
}

/** Where a claim's volume is on the host, and how the containers get it. */
export interface ResolvedClaim {
  /** The PV's name: the volume's name in the plugin's messages (volume.Spec.Name()). */
  pvName: string;
  path: string;
  /** The pod volume's persistentVolumeClaim.readOnly (NewSpecFromPersistentVolume(pv, pvcReadOnly)). */
  readOnly: boolean;
  plugin: 'local' | 'hostPath';
  /** hostPath's type, checked (or the directory made) at set-up. */
  hostPathType?: string;
}

const processError = (pod: V1Pod, claimName: string, why: string) => new ClaimVolumeError('process', `error processing PVC ${pod.metadata?.namespace}/${claimName}: ${why}`);

/**
 * getPVCExtractPV and getPVSpec: the claim bound (not being deleted without its
 * protection), its PV bound back to it; then the plugin's checks (checkNodeAffinity
 * against the node's labels). Throws ClaimVolumeError with the kubelet's messages.
 */
export async function resolveClaim(pod: V1Pod, v: V1Volume, source: ClaimSource, nodeLabels: Record<string, string> | undefined): Promise<ResolvedClaim> {
  const claimName = v.persistentVolumeClaim!.claimName;
  const ns = pod.metadata!.namespace!;
  let pvc: V1PersistentVolumeClaim;
  try {
    pvc = await source.claim(ns, claimName);
  } catch (err) {
    throw processError(pod, claimName, `failed to fetch PVC from API server: ${isNotFound(err) ? `persistentvolumeclaims "${claimName}" not found` : describeApiError(err)}`);
  }
  if (pvc.metadata?.deletionTimestamp && !(pvc.metadata.finalizers ?? []).includes(PVC_PROTECTION)) throw processError(pod, claimName, 'PVC is being deleted');
  if (pvc.status?.phase !== 'Bound') throw processError(pod, claimName, 'PVC is not bound');
  const pvName = pvc.spec?.volumeName;
  if (!pvName) throw processError(pod, claimName, 'PVC has empty pvc.Spec.VolumeName');
  let pv: V1PersistentVolume;
  try {
    pv = await source.volume(pvName);
  } catch (err) {
    throw processError(pod, claimName, `failed to fetch PV ${pvName} from API server: ${isNotFound(err) ? `persistentvolumes "${pvName}" not found` : describeApiError(err)}`);
  }
  const ref = pv.spec?.claimRef;
  if (!ref) throw processError(pod, claimName, `found PV object ${pvName} but it has a nil pv.Spec.ClaimRef indicating it is not yet bound to the claim`);
  if (ref.uid !== pvc.metadata?.uid) throw processError(pod, claimName, `found PV object ${pvName} but its pv.Spec.ClaimRef.UID ${ref.uid ?? ''} does not point to claim.UID ${pvc.metadata?.uid ?? ''}`);
  const readOnly = v.persistentVolumeClaim!.readOnly ?? false;
  const plugin = pv.spec?.local ? 'local' : pv.spec?.hostPath ? 'hostPath' : undefined;
  if (!plugin) throw new ClaimVolumeError('process', `failed to get Plugin from volumeSpec for volume "${pvName}" err=no volume plugin matched`);
  // checkVolumeFsMode: a Block volume in volumeMounts (splitlet has no volumeDevices either).
  if (pv.spec?.volumeMode === 'Block') throw new ClaimVolumeError('process', `volume ${v.name} has volumeMode Block, but is specified in volumeMounts`);
  // checkNodeAffinity: the PV's required node affinity against this node's labels (no fields: storagehelpers.CheckNodeAffinity).
  const terms: V1NodeSelectorTerm[] | undefined = pv.spec?.nodeAffinity?.required?.nodeSelectorTerms;
  if (terms && !nodeLabels) throw new ClaimVolumeError('wait', `the node's labels are not known yet (volume "${pvName}")`);
  if (terms && !matchesNodeSelectorTerms(terms, nodeLabels ?? {}, {})) throw new ClaimVolumeError('mount', `MountVolume.NodeAffinity check failed for volume "${pvName}" : no matching NodeSelectorTerms`);
  if (plugin === 'local') return { pvName, path: pv.spec!.local!.path, readOnly, plugin };
  return { pvName, path: pv.spec!.hostPath!.path, readOnly, plugin, ...(pv.spec!.hostPath!.type ? { hostPathType: pv.spec!.hostPath!.type } : {}) };
}
