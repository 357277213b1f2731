import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SpanStatusCode, trace } from '@opentelemetry/api';
import { InMemorySpanExporter, NodeTracerProvider, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-node';
import type { PodProbeView, ProbedContainer } from '@splitlet/contracts';
import { container, podView, probe } from './__fixtures__/views';
import type { ProbeEventRecorder } from './events';
import { HandlerProber, type ProbeHandlers } from './prober';
import { ProbeError, type ProbeHandler, type ProbeOutcome } from './probes/types';

class Events implements ProbeEventRecorder {
  readonly seen: string[] = [];
  warn(_pod: PodProbeView, c: ProbedContainer, reason: string, message: string): void {
    this.seen.push(`${c.name}${c.sidecar ? '(sidecar)' : ''} ${reason} ${message}`);
  }
}

/** A handler answering from a list (the last repeats); counts runs and the timeouts it was given. */
function handler(...answers: (ProbeOutcome | Error)[]): ProbeHandler & { runs: number; timeouts: number[] } {
  const h = {
    runs: 0,
    timeouts: [] as number[],
    run: async (_t: unknown, timeoutMs: number) => {
      h.runs++;
      h.timeouts.push(timeoutMs);
      const a = answers.length > 1 ? answers.shift() : answers[0];
      if (a instanceof Error) throw a;
      return a as ProbeOutcome;
    },
  };
  return h;
}

const setup = (h: ProbeHandler) => {
  const events = new Events();
  const handlers: ProbeHandlers = { exec: h, httpGet: h, tcpSocket: h, grpc: h };
  return { events, prober: new HandlerProber(handlers, events) };
};

describe('prober prober', () => {
  const pod = podView([]);
  const p = probe({ timeoutSeconds: 2 });

  it('prober - a failure records Unhealthy "<Kind> probe failed: <output>" on every failed run', async () => {
    const h = handler({ result: 'failure', output: 'HTTP probe failed with statuscode: 503' });
    const { events, prober } = setup(h);
    expect(await prober.probe('readiness', pod, container(), p)).toEqual({ result: 'failure', output: 'HTTP probe failed with statuscode: 503' });
    await prober.probe('liveness', pod, container({ name: 'proxy', sidecar: true }), p);
    expect(events.seen).toEqual(['app Unhealthy Readiness probe failed: HTTP probe failed with statuscode: 503', 'proxy(sidecar) Unhealthy Liveness probe failed: HTTP probe failed with statuscode: 503']);
    expect(h.timeouts).toEqual([2000, 2000]);
  });

  it('prober - a warning is a success with a ProbeWarning Event; a success records nothing', async () => {
    const { events, prober } = setup(handler({ result: 'warning', output: 'Probe terminated redirects, Response body: ' }, { result: 'success', output: 'ok' }));
    expect((await prober.probe('startup', pod, container(), p)).result).toBe('success');
    expect((await prober.probe('startup', pod, container(), p)).result).toBe('success');
    expect(events.seen).toEqual(['app ProbeWarning Startup probe warning: Probe terminated redirects, Response body: ']);
  });

  it('prober - an error is retried up to 3 times, then thrown with an "errored" Event', async () => {
    const h = handler(new ProbeError('no responders for splitlet.n.runtime.v1.ExecSync'));
    const { events, prober } = setup(h);
    await expect(prober.probe('liveness', pod, container(), p)).rejects.toBeInstanceOf(ProbeError);
    expect(h.runs).toBe(3);
    expect(events.seen).toEqual(['app Unhealthy Liveness probe errored and resulted in unknown state: no responders for splitlet.n.runtime.v1.ExecSync']);

    const flaky = handler(new ProbeError('once'), { result: 'success', output: '' });
    const second = setup(flaky);
    expect((await second.prober.probe('liveness', pod, container(), p)).result).toBe('success');
    expect(flaky.runs).toBe(2);
    expect(second.events.seen).toEqual([]);
  });

  it('prober - a probe without a handler is an error', async () => {
    const { prober } = setup(handler({ result: 'success', output: '' }));
    await expect(prober.probe('liveness', pod, container(), probe({ handler: { case: undefined } }))).rejects.toThrow('missing probe handler for default/web:app');
  });
});

describe('prober prober tracing', () => {
  const exporter = new InMemorySpanExporter();
  const provider = new NodeTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });
  beforeAll(() => void provider.register());
  afterAll(async () => {
    await provider.shutdown();
    trace.disable();
  });

  it('prober - each run is a span with the pod and container attributes, its result, and an error status when it errored', async () => {
    const { prober } = setup(handler({ result: 'failure', output: 'x' }));
    await prober.probe('readiness', podView([]), container({ containerId: 'cid' }), probe());
    await setup(handler(new ProbeError('down'))).prober.probe('liveness', podView([]), container(), probe()).catch(() => undefined);
    const spans = exporter.getFinishedSpans();
    expect(spans.map((s) => s.name)).toEqual(['prober probe readiness', 'prober probe liveness']);
    expect(spans[0]?.attributes).toMatchObject({ 'k8s.pod.uid': 'uid-1', 'k8s.container.name': 'app', 'container.id': 'cid', 'splitlet.probe.kind': 'readiness', 'splitlet.probe.result': 'failure' });
    expect(spans[1]?.status).toEqual({ code: SpanStatusCode.ERROR, message: 'down' });
  });
});
