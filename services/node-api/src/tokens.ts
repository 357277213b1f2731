/** DI tokens of node-api (beside @splitlet/service's TOKENS). */
export const NODE_API = {
  /** PodSource: the pods bound to the node. */
  Pods: Symbol('Pods'),
  /** { reviewToken, reviewAccess }: TokenReview and SubjectAccessReview. */
  Reviews: Symbol('Reviews'),
  /** () => Promise<ServingCert>: where the serving certificate comes from. */
  ServingCert: Symbol('ServingCert'),
  /** MetricsGatherer: pod-sync's and the prober's figures for /metrics and /metrics/probes. */
  Metrics: Symbol('Metrics'),
} as const;
