import { afterAll, describe, expect, it } from 'vitest';
import { context, trace } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { RequestableIdGenerator } from '@splitlet/telemetry';
import { PodTraces } from './pod-traces';

describe('pod-sync pod traces', () => {
  const exporter = new InMemorySpanExporter();
  const provider = new BasicTracerProvider({ idGenerator: new RequestableIdGenerator(), spanProcessors: [new SimpleSpanProcessor(exporter)] });
  trace.setGlobalTracerProvider(provider);
  context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
  afterAll(() => {
    trace.disable();
    context.disable();
  });
  const pod = (uid: string | undefined, name = 'web') => ({ metadata: { uid, name, namespace: 'ns' } });
  const tracer = trace.getTracer('test');

  it('PodTraces - every run for a pod is in one trace whose id is the UID, under one root span', async () => {
    const traces = new PodTraces('node-a');
    const uid = '0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0';
    for (const n of [1, 2]) await traces.run(pod(uid), async () => tracer.startSpan(`sync ${n}`).end());
    await traces.run(pod('11111111-2222-3333-4444-555555555555', 'other'), async () => tracer.startSpan('other sync').end());
    const spans = exporter.getFinishedSpans();
    const root = spans.find((s) => s.name === 'pod ns/web')!;
    expect(spans.filter((s) => s.name === 'pod ns/web')).toHaveLength(1);
    expect(root.spanContext().traceId).toBe('0f1e2d3c4b5a69788796a5b4c3d2e1f0');
    expect(root.parentSpanContext).toBeUndefined();
    expect(root.attributes).toMatchObject({ 'k8s.pod.uid': uid, 'k8s.pod.name': 'web', 'k8s.namespace.name': 'ns', 'k8s.node.name': 'node-a' });
    for (const name of ['sync 1', 'sync 2']) {
      const s = spans.find((x) => x.name === name)!;
      expect(s.spanContext().traceId).toBe(root.spanContext().traceId);
      expect(s.parentSpanContext?.spanId).toBe(root.spanContext().spanId);
    }
    expect(spans.find((s) => s.name === 'other sync')!.spanContext().traceId).toBe('11111111222233334444555555555555');
  });

  it('PodTraces - a pod without a UID runs outside any pod trace', async () => {
    const traces = new PodTraces('node-a');
    exporter.reset();
    await traces.run(pod(undefined), async () => tracer.startSpan('nameless').end());
    expect(exporter.getFinishedSpans().map((s) => [s.name, s.parentSpanContext])).toEqual([['nameless', undefined]]);
  });
});
