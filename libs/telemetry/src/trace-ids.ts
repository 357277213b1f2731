import { context, ROOT_CONTEXT, trace, type Span, type SpanOptions, type Tracer } from '@opentelemetry/api';
import { RandomIdGenerator, type IdGenerator } from '@opentelemetry/sdk-trace-base';

/**
 * The trace id the next root span is to get, set only for the synchronous span
 * start. Process-wide (on globalThis): a service's instrumentation module, which
 * starts the SDK, and its main module are separate bundles, each with its own copy
 * of this module.
 */
const REQUESTED = Symbol.for('splitlet.telemetry.requestedTraceId');
const slot = globalThis as { [REQUESTED]?: string | undefined };

/**
 * Random ids, as the SDK's default, except for a root span started with
 * startRootSpanInTrace: that one gets the trace id asked for.
 */
export class RequestableIdGenerator implements IdGenerator {
  private readonly random = new RandomIdGenerator();

  generateTraceId(): string {
    return slot[REQUESTED] ?? this.random.generateTraceId();
  }

  generateSpanId(): string {
    return this.random.generateSpanId();
  }
}

/**
 * Starts a root span in the trace `traceId` (32 lowercase hex digits), or in a new
 * trace when traceId is undefined. The span is a root (no parent), so a trace that
 * gets several such spans (one per process lifetime) still has no broken links.
 * Needs the SDK started by startTelemetry (its id generator); with any other SDK
 * the span gets a random trace id.
 */
export function startRootSpanInTrace(tracer: Tracer, name: string, traceId: string | undefined, options: SpanOptions = {}): Span {
  slot[REQUESTED] = traceId;
  try {
    return tracer.startSpan(name, { ...options, root: true }, ROOT_CONTEXT);
  } finally {
    slot[REQUESTED] = undefined;
  }
}

/**
 * A pod's trace id: its UID's 128 bits (a UUID without dashes), so every span about
 * the pod can be found at Jaeger's /trace/<id> from the UID alone. Undefined for a
 * UID that is not a UUID.
 */
export function podTraceId(uid: string): string | undefined {
  const hex = uid.replace(/-/g, '').toLowerCase();
  return /^[0-9a-f]{32}$/.test(hex) && !/^0+$/.test(hex) ? hex : undefined;
}

/**
 * Runs fn in a root span of the trace `traceId` (see startRootSpanInTrace), ended when
 * fn settles: how work that no request started (a Docker event) joins a pod's trace.
 */
export async function withRootSpanInTrace<T>(tracer: Tracer, name: string, traceId: string | undefined, options: SpanOptions, fn: () => Promise<T>): Promise<T> {
  const span = startRootSpanInTrace(tracer, name, traceId, options);
  try {
    return await context.with(trace.setSpan(ROOT_CONTEXT, span), fn);
  } finally {
    span.end();
  }
}
