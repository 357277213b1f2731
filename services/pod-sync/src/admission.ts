import type { V1Pod } from '@kubernetes/client-node';
import { SYSCTL_FORBIDDEN, type SysctlAllowlist } from './sysctls';

/** Why the node refuses a pod: the admit handler's reason and message (lifecycle.PodAdmitResult). */
export interface Rejection {
  reason: string;
  message: string;
}

/** The predicate admit handler's reasons for a pod of another OS (pkg/kubelet/lifecycle/predicate.go). */
export const POD_OS_SELECTOR_NODE_LABEL_DOES_NOT_MATCH = 'PodOSSelectorNodeLabelDoesNotMatch';
export const POD_OS_NOT_SUPPORTED = 'PodOSNotSupported';

/** The reasons a pod is rejected with at admission here: such a pod never ran on the node. */
export const ADMISSION_REJECTIONS: ReadonlySet<string> = new Set([SYSCTL_FORBIDDEN, POD_OS_SELECTOR_NODE_LABEL_DOES_NOT_MATCH, POD_OS_NOT_SUPPORTED]);

/** The node's OS, as the kubelet's runtime.GOOS: splitlet runs Linux containers on Docker. */
const NODE_OS = 'linux';
const LABEL_OS = 'kubernetes.io/os';

/**
 * The kubelet's pod admission (canAdmitPod over its admit handlers, in its order), the
 * parts that apply here: the sysctl allow-list, then the predicate handler's OS checks —
 * the pod's own `kubernetes.io/os` label (its labels, not its nodeSelector: the
 * kubelet's rejectPodAdmissionBasedOnOSSelector, where the node's label counts as its
 * OS whatever it says) and spec.os.name. Answers the first rejection, or undefined
 * when the pod may run.
 */
export class PodAdmission {
  constructor(private readonly sysctls: SysctlAllowlist) {}

  admit(pod: V1Pod): Rejection | undefined {
    const sysctl = this.sysctls.admit(pod);
    if (sysctl) return sysctl;
    const osLabel = pod.metadata?.labels?.[LABEL_OS];
    if (osLabel !== undefined && osLabel !== NODE_OS) {
      return { reason: POD_OS_SELECTOR_NODE_LABEL_DOES_NOT_MATCH, message: 'Failed to admit pod as the `kubernetes.io/os` label doesn\'t match node label' };
    }
    if (pod.spec?.os && pod.spec.os.name !== NODE_OS) return { reason: POD_OS_NOT_SUPPORTED, message: 'Failed to admit pod as the OS field doesn\'t match node OS' };
    return undefined;
  }
}
