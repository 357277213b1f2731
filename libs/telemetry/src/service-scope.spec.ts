import { describe, expect, it } from 'vitest';
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { ServiceRoutingProvider } from './sdk';
import { currentService, inServiceScope } from './service-scope';

// The all-in-one node's tracing: one provider per hosted service, each span to the
// provider of the service whose code started it.
describe('ServiceRoutingProvider', () => {
  const exporter = new InMemorySpanExporter();
  const provider = (name: string) =>
    new BasicTracerProvider({ resource: resourceFromAttributes({ 'service.name': name }), spanProcessors: [new SimpleSpanProcessor(exporter)] });
  const routing = new ServiceRoutingProvider(new Map([['pod-sync', provider('pod-sync')], ['prober', provider('prober')]]), provider('splitlet'));
  const serviceOf = (spanName: string) => exporter.getFinishedSpans().find((s) => s.name === spanName)?.resource.attributes['service.name'];

  it("a service's own tracer gives its spans, wherever they start", () => {
    inServiceScope('prober', () => routing.getTracer('pod-sync').startSpan('sync').end());
    expect(serviceOf('sync')).toBe('pod-sync');
  });

  it("a shared lib's tracer gives the spans of the service whose code runs, across awaits and timers", async () => {
    const bus = routing.getTracer('@splitlet/bus');
    await inServiceScope('prober', async () => {
      await new Promise((r) => setTimeout(r, 1));
      bus.startActiveSpan('send probe', (span) => span.end());
    });
    await inServiceScope('pod-sync', () => new Promise<void>((r) => setTimeout(() => (bus.startSpan('send status').end(), r()), 1)));
    bus.startSpan('outside').end();
    expect([serviceOf('send probe'), serviceOf('send status'), serviceOf('outside')]).toEqual(['prober', 'pod-sync', 'splitlet']);
  });

  it('scopes nest and end with their function', () => {
    expect(currentService()).toBeUndefined();
    inServiceScope('a', () => {
      inServiceScope('b', () => expect(currentService()).toBe('b'));
      expect(currentService()).toBe('a');
    });
    expect(currentService()).toBeUndefined();
  });
});
