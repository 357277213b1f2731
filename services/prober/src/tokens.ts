/** DI tokens of the prober (beside @splitlet/service's TOKENS). */
export const PROBER = {
  /** Prober: runs one probe of a container (the kubelet's prober.probe). */
  Prober: Symbol('Prober'),
  /** ProbeEventRecorder: Unhealthy / ProbeWarning Events. */
  Events: Symbol('Events'),
  /** ReplicaSettings: this replica's id and membership timing. */
  Replica: Symbol('Replica'),
  /** () => number in [0, 1): the first-probe jitter (injected so tests are exact). */
  Random: Symbol('Random'),
  /** ProberMetrics: prober_probe_total and prober_probe_duration_seconds, gathered by node-api. */
  Metrics: Symbol('Metrics'),
} as const;
