/** DI tokens of status-reporter (beside @splitlet/service's TOKENS). */
export const SR = {
  /** PodApi: the API server, as this node. */
  PodApi: Symbol('PodApi'),
  /** PodCache: the node's pods as the API server has them. */
  PodCache: Symbol('PodCache'),
  /** How often statuses are reconciled against the API server, in ms. */
  ReconcileMs: Symbol('ReconcileMs'),
} as const;
