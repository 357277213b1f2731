/** DI tokens of pod-sync (beside @splitlet/service's TOKENS). */
export const SYNC = {
  /** The PodInformer of the pods bound to this node. */
  PodInformer: Symbol('PodInformer'),
} as const;
