/** DI tokens of status-reporter (beside @splitlet/service's TOKENS). */
export const SR = {
  /** PodApi: the API server, as this node. */
  PodApi: Symbol('PodApi'),
  /** PodCache: the node's pods as the API server has them. */
  PodCache: Symbol('PodCache'),
  /**
   * NodeHeartbeat: whether the node is heartbeating as the API server sees it (its
   * Ready condition not Unknown): the reconcile stands down while it is not.
   */
  NodeHeartbeat: Symbol('NodeHeartbeat'),
  /**
   * The status shard (a number) a status manager or Event writer works on, while its
   * replica holds it; not registered: every pod of the node.
   */
  Shard: Symbol('Shard'),
  /** How often statuses are reconciled against the API server, in ms. */
  ReconcileMs: Symbol('ReconcileMs'),
} as const;
