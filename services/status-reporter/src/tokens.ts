/** DI tokens of status-reporter (beside @splitlet/service's TOKENS). */
export const SR = {
  /** PodApi: the API server, as this node. */
  PodApi: Symbol('PodApi'),
} as const;
