import { describe, expect, it } from 'vitest';
import { BasicTracerProvider } from '@opentelemetry/sdk-trace-base';
import { podTraceId, RequestableIdGenerator, startRootSpanInTrace } from './trace-ids';

describe('telemetry trace ids', () => {
  const tracer = new BasicTracerProvider({ idGenerator: new RequestableIdGenerator() }).getTracer('t');

  it('podTraceId - a pod UID is its own trace id; a UID that is no UUID has none', () => {
    expect(podTraceId('0F1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0')).toBe('0f1e2d3c4b5a69788796a5b4c3d2e1f0');
    expect(podTraceId('not-a-uuid')).toBeUndefined();
    expect(podTraceId('00000000-0000-0000-0000-000000000000')).toBeUndefined();
  });

  it('startRootSpanInTrace - the root span gets the trace id asked for; spans after it get random ones', () => {
    const id = '0f1e2d3c4b5a69788796a5b4c3d2e1f0';
    const first = startRootSpanInTrace(tracer, 'pod', id);
    const again = startRootSpanInTrace(tracer, 'pod', id);
    const other = tracer.startSpan('other');
    const fresh = startRootSpanInTrace(tracer, 'pod', undefined);
    expect(first.spanContext().traceId).toBe(id);
    expect(again.spanContext().traceId).toBe(id);
    expect(again.spanContext().spanId).not.toBe(first.spanContext().spanId);
    expect(other.spanContext().traceId).not.toBe(id);
    expect(fresh.spanContext().traceId).not.toBe(id);
    expect(fresh.spanContext().traceId).toMatch(/^[0-9a-f]{32}$/);
  });
});
