import { context, propagation, trace } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { CompositePropagator, W3CBaggagePropagator, W3CTraceContextPropagator } from '@opentelemetry/core';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import { BasicTracerProvider, BatchSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { ATTR_SERVICE_NAME, ATTR_SERVICE_VERSION } from '@opentelemetry/semantic-conventions';
import { hostname } from 'node:os';
import { ATTR } from './attributes';
import { RequestableIdGenerator } from './trace-ids';

export interface TelemetryOptions {
  /** service.name, e.g. "runtime-executor". */
  serviceName: string;
  serviceVersion?: string;
  /** k8s.node.name on the resource; defaults to SPLITLET_NODE_NAME or the host name. */
  nodeName?: string;
}

let sdk: BasicTracerProvider | undefined;

/**
 * Starts tracing: spans to OTLP over HTTP/protobuf (OTEL_EXPORTER_OTLP_ENDPOINT,
 * default http://localhost:4318), W3C trace context and baggage, the active span kept
 * in AsyncLocalStorage. Call it from the service's instrumentation module, loaded with
 * `node --import` before anything else. OTEL_SDK_DISABLED=true turns it off (the API
 * then hands out no-op spans).
 *
 * The trace SDK's parts, not @opentelemetry/sdk-node: that one loads every exporter
 * (gRPC, Prometheus, Zipkin, logs, metrics) and detector a service never uses, and
 * took most of a service's start-up (issue 17's measurements).
 */
export function startTelemetry(opts: TelemetryOptions): void {
  if (sdk || process.env['OTEL_SDK_DISABLED'] === 'true') return;
  const nodeName = opts.nodeName ?? process.env['SPLITLET_NODE_NAME'] ?? hostname().toLowerCase();
  sdk = new BasicTracerProvider({
    resource: resourceFromAttributes({
      [ATTR_SERVICE_NAME]: opts.serviceName,
      [ATTR_SERVICE_VERSION]: opts.serviceVersion ?? process.env['SPLITLET_VERSION'] ?? '0.1.0',
      'service.namespace': 'splitlet',
      'service.instance.id': `${hostname()}/${process.pid}`,
      [ATTR.nodeName]: nodeName,
    }),
    spanProcessors: [new BatchSpanProcessor(new OTLPTraceExporter(), { scheduledDelayMillis: 500 })],
    idGenerator: new RequestableIdGenerator(),
  });
  context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
  propagation.setGlobalPropagator(new CompositePropagator({ propagators: [new W3CTraceContextPropagator(), new W3CBaggagePropagator()] }));
  trace.setGlobalTracerProvider(sdk);
}

/** Flushes and stops the SDK; safe to call when it never started. */
export async function shutdownTelemetry(): Promise<void> {
  const running = sdk;
  sdk = undefined;
  await running?.shutdown().catch(() => undefined);
}
