import { NodeSDK } from '@opentelemetry/sdk-node';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import { BatchSpanProcessor } from '@opentelemetry/sdk-trace-base';
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

let sdk: NodeSDK | undefined;

/**
 * Starts the OpenTelemetry SDK: traces to OTLP (OTEL_EXPORTER_OTLP_ENDPOINT, default
 * http://localhost:4318), W3C trace context. Call it from the service's instrumentation
 * module, loaded with `node --import` before anything else. OTEL_SDK_DISABLED=true
 * turns it off (the API then hands out no-op spans).
 */
export function startTelemetry(opts: TelemetryOptions): void {
  if (sdk || process.env['OTEL_SDK_DISABLED'] === 'true') return;
  const nodeName = opts.nodeName ?? process.env['SPLITLET_NODE_NAME'] ?? hostname().toLowerCase();
  sdk = new NodeSDK({
    resource: resourceFromAttributes({
      [ATTR_SERVICE_NAME]: opts.serviceName,
      [ATTR_SERVICE_VERSION]: opts.serviceVersion ?? process.env['SPLITLET_VERSION'] ?? '0.1.0',
      'service.namespace': 'splitlet',
      'service.instance.id': `${hostname()}/${process.pid}`,
      [ATTR.nodeName]: nodeName,
    }),
    spanProcessors: [new BatchSpanProcessor(new OTLPTraceExporter(), { scheduledDelayMillis: 500 })],
    idGenerator: new RequestableIdGenerator(),
    instrumentations: [],
  });
  sdk.start();
}

/** Flushes and stops the SDK; safe to call when it never started. */
export async function shutdownTelemetry(): Promise<void> {
  const running = sdk;
  sdk = undefined;
  await running?.shutdown().catch(() => undefined);
}
