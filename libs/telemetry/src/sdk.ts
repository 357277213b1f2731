import { context, propagation, trace, type Context, type Span, type SpanOptions, type Tracer, type TracerOptions, type TracerProvider } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { CompositePropagator, W3CBaggagePropagator, W3CTraceContextPropagator } from '@opentelemetry/core';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import { BasicTracerProvider, BatchSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { ATTR_SERVICE_NAME, ATTR_SERVICE_VERSION } from '@opentelemetry/semantic-conventions';
import { hostname } from 'node:os';
import { ATTR } from './attributes';
import { currentService } from './service-scope';
import { RequestableIdGenerator } from './trace-ids';

export interface TelemetryOptions {
  /** service.name, e.g. "runtime-executor". */
  serviceName: string;
  /**
   * The services this process hosts, when it hosts several (the all-in-one node): each
   * gets a trace provider of its own, with its own `service.name`, so its spans are the
   * same as when it runs alone. A tracer named after one of them is that service's;
   * any other tracer (a shared lib's) takes the service of the code that starts the
   * span (inServiceScope), else `serviceName`.
   */
  services?: readonly string[];
  serviceVersion?: string;
  /** k8s.node.name on the resource; defaults to SPLITLET_NODE_NAME or the host name. */
  nodeName?: string;
}

let providers: BasicTracerProvider[] = [];

/**
 * Starts tracing: spans to OTLP over HTTP/protobuf (OTEL_EXPORTER_OTLP_ENDPOINT,
 * default http://localhost:4318), W3C trace context and baggage, the active span kept
 * in AsyncLocalStorage. Call it from the service's instrumentation module, loaded with
 * `node --require` before anything else. OTEL_SDK_DISABLED=true turns it off (the API
 * then hands out no-op spans).
 *
 * The trace SDK's parts, not @opentelemetry/sdk-node: that one loads every exporter
 * (gRPC, Prometheus, Zipkin, logs, metrics) and detector a service never uses, and
 * took most of a service's start-up (issue 17's measurements).
 */
export function startTelemetry(opts: TelemetryOptions): void {
  if (providers.length || process.env['OTEL_SDK_DISABLED'] === 'true') return;
  const nodeName = opts.nodeName ?? process.env['SPLITLET_NODE_NAME'] ?? hostname().toLowerCase();
  const provider = (serviceName: string) =>
    new BasicTracerProvider({
      resource: resourceFromAttributes({
        [ATTR_SERVICE_NAME]: serviceName,
        [ATTR_SERVICE_VERSION]: opts.serviceVersion ?? process.env['SPLITLET_VERSION'] ?? '0.1.0',
        'service.namespace': 'splitlet',
        'service.instance.id': `${hostname()}/${process.pid}`,
        [ATTR.nodeName]: nodeName,
      }),
      spanProcessors: [new BatchSpanProcessor(new OTLPTraceExporter(), { scheduledDelayMillis: 500 })],
      idGenerator: new RequestableIdGenerator(),
    });
  const own = provider(opts.serviceName);
  const hosted = new Map((opts.services ?? []).map((name) => [name, provider(name)] as const));
  providers = [own, ...hosted.values()];
  context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
  propagation.setGlobalPropagator(new CompositePropagator({ propagators: [new W3CTraceContextPropagator(), new W3CBaggagePropagator()] }));
  trace.setGlobalTracerProvider(hosted.size ? new ServiceRoutingProvider(hosted, own) : own);
}

/** One provider per hosted service; a tracer picks its service when a span starts. */
export class ServiceRoutingProvider implements TracerProvider {
  constructor(
    private readonly hosted: ReadonlyMap<string, TracerProvider>,
    private readonly fallback: TracerProvider,
  ) {}

  getTracer(name: string, version?: string, options?: TracerOptions): Tracer {
    const named = this.hosted.get(name);
    if (named) return named.getTracer(name, version, options);
    const tracers = new Map<TracerProvider, Tracer>();
    const pick = (): Tracer => {
      const provider = this.hosted.get(currentService() ?? '') ?? this.fallback;
      let t = tracers.get(provider);
      if (!t) tracers.set(provider, (t = provider.getTracer(name, version, options)));
      return t;
    };
    return {
      startSpan: (spanName: string, spanOptions?: SpanOptions, ctx?: Context): Span => pick().startSpan(spanName, spanOptions, ctx),
      startActiveSpan: ((...args: Parameters<Tracer['startActiveSpan']>) => (pick().startActiveSpan as (...a: unknown[]) => unknown)(...args)) as Tracer['startActiveSpan'],
    };
  }
}

/** Flushes and stops the SDK; safe to call when it never started. */
export async function shutdownTelemetry(): Promise<void> {
  const running = providers;
  providers = [];
  await Promise.all(running.map((p) => p.shutdown().catch(() => undefined)));
}
