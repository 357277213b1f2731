/** DI tokens of registrar (beside @splitlet/service's TOKENS). */
export const REG = {
  /** NodeApi: the API server, as this node. */
  NodeApi: Symbol('NodeApi'),
  /** NodeInputsSource: gathers what a node status is computed from. */
  Inputs: Symbol('Inputs'),
  /** StatusSettings for buildNodeStatus. */
  StatusSettings: Symbol('StatusSettings'),
  /** RegistrarTiming: loop periods. */
  Timing: Symbol('Timing'),
  /** NodeIdentity: labels, taints, annotations set at registration. */
  Identity: Symbol('Identity'),
  /** NodeEventSink: records an Event about the Node. */
  NodeEvents: Symbol('NodeEvents'),
  /** ShutdownStatus: whether the node is shutting down. */
  Shutdown: Symbol('Shutdown'),
} as const;
