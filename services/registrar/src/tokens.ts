/** DI tokens of registrar (beside @splitlet/service's TOKENS). */
export const REG = {
  /** An RpcClient of RuntimeService for this node. */
  Runtime: Symbol('Runtime'),
  /** Config.SPLITLET_RUNTIME_CHECK_INTERVAL_MS */
  RuntimeCheckIntervalMs: Symbol('RuntimeCheckIntervalMs'),
} as const;
