import { SpanKind, SpanStatusCode, trace } from '@opentelemetry/api';
import type { Probe, PodProbeView, ProbedContainer } from '@splitlet/contracts';
import { ATTR } from '@splitlet/telemetry';
import type { ProbeEventRecorder } from './events';
import { kindTitle, probeTiming, type ProbeKindName } from './probe-kind';
import { isProbeError, ProbeError, type ProbeHandler } from './probes/types';

/** One run's verdict (a warning counts as success) and the probe's output. */
export interface ProbeVerdict {
  result: 'success' | 'failure';
  output: string;
}

/**
 * Runs one probe of a container, recording its Events. Settles within the probe's
 * timeout (times the retries of errors); throws ProbeError when it could not run.
 */
export interface Prober {
  probe(kind: ProbeKindName, pod: PodProbeView, container: ProbedContainer, probe: Probe): Promise<ProbeVerdict>;
}

export interface ProbeHandlers {
  exec: ProbeHandler;
  httpGet: ProbeHandler;
  tcpSocket: ProbeHandler;
  grpc: ProbeHandler;
}

// The kubelet tries a probe that errors (not one that fails) up to 3 times in a row.
const MAX_PROBE_RETRIES = 3;

const tracer = trace.getTracer('prober');

/** The kubelet's prober.probe: picks the handler, retries errors, records the Events. */
export class HandlerProber implements Prober {
  constructor(
    private readonly handlers: ProbeHandlers,
    private readonly events: ProbeEventRecorder,
  ) {}

  async probe(kind: ProbeKindName, pod: PodProbeView, container: ProbedContainer, probe: Probe): Promise<ProbeVerdict> {
    const attributes = {
      [ATTR.podUid]: pod.podUid,
      [ATTR.podName]: pod.name,
      [ATTR.namespace]: pod.namespace,
      [ATTR.containerName]: container.name,
      [ATTR.containerId]: container.containerId,
      'splitlet.probe.kind': kind,
      'splitlet.probe.handler': probe.handler.case ?? '',
    };
    return tracer.startActiveSpan(`prober probe ${kind}`, { kind: SpanKind.INTERNAL, attributes }, async (span) => {
      try {
        const verdict = await this.probeOnce(kind, pod, container, probe);
        span.setAttribute('splitlet.probe.result', verdict.result);
        return verdict;
      } catch (err) {
        span.setStatus({ code: SpanStatusCode.ERROR, message: (err as Error).message });
        throw err;
      } finally {
        span.end();
      }
    });
  }

  private async probeOnce(kind: ProbeKindName, pod: PodProbeView, container: ProbedContainer, probe: Probe): Promise<ProbeVerdict> {
    const title = kindTitle(kind);
    let outcome;
    try {
      outcome = await this.runWithRetries(pod, container, probe, kind);
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err);
      this.events.warn(pod, container, 'Unhealthy', `${title} probe errored and resulted in unknown state: ${message}`);
      throw isProbeError(err) ? err : new ProbeError(message, { cause: err });
    }
    if (outcome.result === 'failure') {
      this.events.warn(pod, container, 'Unhealthy', `${title} probe failed: ${outcome.output}`);
      return { result: 'failure', output: outcome.output };
    }
    if (outcome.result === 'warning') this.events.warn(pod, container, 'ProbeWarning', `${title} probe warning: ${outcome.output}`);
    return { result: 'success', output: outcome.output };
  }

  private async runWithRetries(pod: PodProbeView, container: ProbedContainer, probe: Probe, kind: ProbeKindName) {
    const handler = probe.handler.case ? this.handlers[probe.handler.case] : undefined;
    if (!handler) throw new ProbeError(`missing probe handler for ${pod.namespace}/${pod.name}:${container.name}`);
    const timeoutMs = probeTiming(probe, kind).timeoutSeconds * 1000;
    let last: unknown;
    for (let i = 0; i < MAX_PROBE_RETRIES; i++) {
      try {
        return await handler.run({ pod, container, probe }, timeoutMs);
      } catch (err) {
        last = err;
      }
    }
    throw last;
  }
}
