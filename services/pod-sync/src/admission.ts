import type { V1Node, V1Pod } from '@kubernetes/client-node';
import { admitUnderPressure, EVICTED } from '@splitlet/eviction';
import { generalFilter } from './admission-fit';
import { NODE_SHUTDOWN_NOT_ADMITTED_MESSAGE, NODE_SHUTDOWN_NOT_ADMITTED_REASON } from './node-shutdown';
import { SYSCTL_FORBIDDEN, type SysctlAllowlist } from './sysctls';

/** Why the node refuses a pod: the admit handler's reason and message (lifecycle.PodAdmitResult). */
export interface Rejection {
  reason: string;
  message: string;
}

/** The predicate admit handler's reasons for a pod of another OS (pkg/kubelet/lifecycle/predicate.go). */
export const POD_OS_SELECTOR_NODE_LABEL_DOES_NOT_MATCH = 'PodOSSelectorNodeLabelDoesNotMatch';
export const POD_OS_NOT_SUPPORTED = 'PodOSNotSupported';

/** The general filter's predicates (admission-fit.ts), beside its `OutOf<resource>` reasons. */
const PREDICATES = ['NodeAffinity', 'NodeName', 'NodePorts', 'TaintToleration'];

/** Whether a pod's reason is one it is rejected with at admission here: such a pod never ran on the node. */
export function isAdmissionRejection(reason: string | undefined): boolean {
  if (!reason) return false;
  return reason === SYSCTL_FORBIDDEN || reason === NODE_SHUTDOWN_NOT_ADMITTED_REASON || reason === POD_OS_SELECTOR_NODE_LABEL_DOES_NOT_MATCH || reason === POD_OS_NOT_SUPPORTED || reason.startsWith('OutOf') || PREDICATES.includes(reason);
}

/** What admission reads of the node: its own Node (labels, taints, allocatable) and the pods bound to it. */
export interface AdmissionView {
  /** Undefined until the Node has been read: the general filter waits for it (the kubelet's getNodeAnyWay). */
  node(): V1Node | undefined;
  pods(): readonly V1Pod[];
  /** Whether the node is shutting down (the node shutdown manager's admit handler refuses every pod then). */
  shuttingDown?(): boolean;
  /**
   * Whether a pod has finished as this node knows it: the last status it generated, not
   * only the API's, which lags behind while status-reporter writes (or is away). The
   * kubelet's isAdmittedPodTerminal reads its status manager's cache the same way.
   * Unset: the API's phase.
   */
  finished?(pod: V1Pod): boolean;
}

/** The node conditions the eviction manager admits by, in its order. */
const PRESSURE = ['MemoryPressure', 'DiskPressure', 'PIDPressure'];

/** The node's OS, as the kubelet's runtime.GOOS: splitlet runs Linux containers on Docker. */
const NODE_OS = 'linux';
const LABEL_OS = 'kubernetes.io/os';

/**
 * The kubelet's pod admission (canAdmitPod over its admit handlers, in its order), the
 * parts that apply here: the sysctl allow-list, then the predicate handler's OS checks —
 * the pod's own `kubernetes.io/os` label (its labels, not its nodeSelector: the
 * kubelet's rejectPodAdmissionBasedOnOSSelector, where the node's label counts as its
 * OS whatever it says) and spec.os.name; the general filter; last the node shutdown
 * manager's (every pod while the node shuts down). Answers the first rejection, or undefined
 * when the pod may run.
 */
export class PodAdmission {
  /** Each pod decided by this process: admitted (undefined) or its rejection. */
  private readonly decided = new Map<string, Rejection | undefined>();

  constructor(
    private readonly sysctls: SysctlAllowlist,
    private readonly view?: AdmissionView,
  ) {}

  /**
   * The pod's admission, decided once. As the kubelet's HandlePodAdditions admits in
   * creation order, the pods created before it that wait for their decision are
   * decided first, so what they are granted counts against this one (and a burst of
   * pods never over-admits: every decision is taken in one synchronous step).
   */
  admit(pod: V1Pod): Rejection | undefined {
    const uid = pod.metadata?.uid;
    if (uid && this.decided.has(uid)) return this.decided.get(uid);
    if (this.view) {
      const earlier = this.undecided().filter((p) => createdBefore(p, pod));
      for (const p of earlier.sort((a, b) => (createdBefore(a, b) ? -1 : 1))) this.decide(p);
    }
    return this.decide(pod);
  }

  /** Told of each decision this process takes (the pods decided before the one asked included). */
  onDecided?: (uid: string, rejection: Rejection | undefined) => void;

  /** A pod found running that admission had refused (a restart lost the decision): it counts as admitted. */
  admitted(uid: string): void {
    this.decided.set(uid, undefined);
    this.onDecided?.(uid, undefined);
  }

  /** A decision taken elsewhere (the pod-sync replica that led when it was taken): it counts here as one of this process's own. */
  record(uid: string, rejection: Rejection | undefined): void {
    this.decided.set(uid, rejection);
  }

  /** Whether this process admitted the pod. */
  isAdmitted(uid: string): boolean {
    return this.decided.has(uid) && this.decided.get(uid) === undefined;
  }

  /** The pod is gone from the API server. */
  forget(uid: string): void {
    this.decided.delete(uid);
  }

  private decide(pod: V1Pod): Rejection | undefined {
    const r = this.check(pod);
    if (pod.metadata?.uid) {
      this.decided.set(pod.metadata.uid, r);
      this.onDecided?.(pod.metadata.uid, r);
    }
    return r;
  }

  private check(pod: V1Pod): Rejection | undefined {
    // The eviction manager's handler first: the node's pressure conditions as reported
    // (registrar's, the transition period included).
    const pressure = PRESSURE.filter((type) => this.view?.node()?.status?.conditions?.some((c) => c.type === type && c.status === 'True'));
    const underPressure = admitUnderPressure(pod, pressure);
    if (underPressure) return { reason: EVICTED, message: underPressure };
    const sysctl = this.sysctls.admit(pod);
    if (sysctl) return sysctl;
    const osLabel = pod.metadata?.labels?.[LABEL_OS];
    if (osLabel !== undefined && osLabel !== NODE_OS) {
      return { reason: POD_OS_SELECTOR_NODE_LABEL_DOES_NOT_MATCH, message: 'Failed to admit pod as the `kubernetes.io/os` label doesn\'t match node label' };
    }
    if (pod.spec?.os && pod.spec.os.name !== NODE_OS) return { reason: POD_OS_NOT_SUPPORTED, message: 'Failed to admit pod as the OS field doesn\'t match node OS' };
    const node = this.view?.node();
    const unfit = node ? generalFilter(pod, node, this.active(pod)) : undefined;
    if (unfit) return unfit;
    // The node shutdown manager's handler, added last.
    if (this.view?.shuttingDown?.()) return { reason: NODE_SHUTDOWN_NOT_ADMITTED_REASON, message: NODE_SHUTDOWN_NOT_ADMITTED_MESSAGE };
    return undefined;
  }

  /**
   * The kubelet's active pods besides this one: admitted (by this process, or before
   * it: the node gave it a start time) and not finished.
   */
  private active(pod: V1Pod): V1Pod[] {
    const uid = pod.metadata?.uid;
    return (this.view?.pods() ?? []).filter((p) => {
      const id = p.metadata?.uid ?? '';
      if (id === uid || this.finished(p)) return false;
      return this.decided.has(id) ? this.decided.get(id) === undefined : Boolean(p.status?.startTime);
    });
  }

  /** Pods waiting for their admission: never decided here, never started by the node, not finished. */
  private undecided(): V1Pod[] {
    return (this.view?.pods() ?? []).filter((p) => !this.decided.has(p.metadata?.uid ?? '') && !p.status?.startTime && !this.finished(p) && !p.metadata?.deletionTimestamp);
  }

  private finished(p: V1Pod): boolean {
    return this.view?.finished ? this.view.finished(p) : p.status?.phase === 'Succeeded' || p.status?.phase === 'Failed';
  }
}

/** Creation order, as the kubelet sorts its pod additions (a tie goes by UID, so the order is total). */
function createdBefore(a: V1Pod, b: V1Pod): boolean {
  const [ta, tb] = [time(a), time(b)];
  return ta !== tb ? ta < tb : (a.metadata?.uid ?? '') < (b.metadata?.uid ?? '');
}

const time = (p: V1Pod) => new Date(p.metadata?.creationTimestamp ?? 0).getTime();
