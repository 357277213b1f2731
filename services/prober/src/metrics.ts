import { Counter, Histogram, Registry } from 'prom-client';
import { kindTitle, type ProbeKindName } from './probe-kind';

/** The pod a worker probes, as its metrics label it. */
export interface ProbedPod {
  name: string;
  namespace: string;
  podUid: string;
}

/**
 * The kubelet's prober metrics (pkg/kubelet/prober/prober_manager.go ProberResults and
 * ProberDuration), served by node-api on /metrics/probes: each replica counts the
 * probes of the pods it owns, node-api sums the replicas. Names, help, labels and
 * buckets (Prometheus' default) as the kubelet's.
 */
export class ProberMetrics {
  readonly registry = new Registry();
  private readonly results = new Counter({
    name: 'prober_probe_total',
    help: '[BETA] Cumulative number of a liveness, readiness or startup probe for a container by result.',
    labelNames: ['probe_type', 'result', 'container', 'pod', 'namespace', 'pod_uid'] as const,
    registers: [this.registry],
  });
  private readonly duration = new Histogram({
    name: 'prober_probe_duration_seconds',
    help: '[ALPHA] Duration in seconds for a probe response.',
    labelNames: ['probe_type', 'container', 'pod', 'namespace'] as const,
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [this.registry],
  });

  /**
   * One probe that ran (worker.go's doProbe after prober.probe returned no error): a
   * success is counted with its duration, a failure only counted. A probe that could
   * not run (an error) is not counted, as the kubelet does not.
   */
  observe(kind: ProbeKindName, pod: ProbedPod, container: string, result: 'success' | 'failure', seconds: number): void {
    const labels = { probe_type: kindTitle(kind), container, pod: pod.name, namespace: pod.namespace };
    if (result === 'success') {
      this.results.inc({ ...labels, result: 'successful', pod_uid: pod.podUid });
      this.duration.observe(labels, seconds);
    } else {
      this.results.inc({ ...labels, result: 'failed', pod_uid: pod.podUid });
    }
  }

  /** A worker that ends takes its series with it (worker.go's deferred ProberResults.Delete). */
  forget(kind: ProbeKindName, pod: ProbedPod, container: string): void {
    const labels = { probe_type: kindTitle(kind), container, pod: pod.name, namespace: pod.namespace };
    for (const result of ['successful', 'failed', 'unknown']) this.results.remove({ ...labels, result, pod_uid: pod.podUid });
    this.duration.remove(labels);
  }
}
