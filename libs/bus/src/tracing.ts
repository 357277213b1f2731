import {
  context,
  propagation,
  SpanKind,
  SpanStatusCode,
  trace,
  type Attributes,
  type Context,
  type Span,
  type TextMapGetter,
  type TextMapSetter,
} from '@opentelemetry/api';
import type { MsgHdrs } from '@nats-io/transport-node';

export const tracer = trace.getTracer('@splitlet/bus');

/** Writes W3C trace context (traceparent, tracestate) into NATS headers. */
export const natsHeaderSetter: TextMapSetter<MsgHdrs> = {
  set(carrier, key, value) {
    carrier.set(key, value);
  },
};

/** Reads trace context from NATS headers; a message without headers has none. */
export const natsHeaderGetter: TextMapGetter<MsgHdrs | undefined> = {
  keys: (carrier) => (carrier ? carrier.keys() : []),
  get(carrier, key) {
    const value = carrier?.get(key);
    return value ? value : undefined;
  },
};

export const injectContext = (headers: MsgHdrs, ctx: Context = context.active()): void =>
  propagation.inject(ctx, headers, natsHeaderSetter);

export const extractContext = (headers: MsgHdrs | undefined): Context =>
  propagation.extract(context.active(), headers, natsHeaderGetter);

const messagingAttributes = (subject: string, operation: 'send' | 'process' | 'receive'): Attributes => ({
  'messaging.system': 'nats',
  'messaging.destination.name': subject,
  'messaging.operation.type': operation,
});

/** Runs fn in a PRODUCER span for a message sent on subject (a child of the active span). */
export function withProducerSpan<T>(subject: string, attributes: Attributes, fn: (span: Span) => Promise<T>): Promise<T> {
  return tracer.startActiveSpan(
    `send ${subject}`,
    { kind: SpanKind.PRODUCER, attributes: { ...messagingAttributes(subject, 'send'), ...attributes } },
    (span) => endSpanAfter(span, fn),
  );
}

/** Runs fn in a CONSUMER span whose parent is the trace context carried by the message. */
export function withConsumerSpan<T>(
  subject: string,
  headers: MsgHdrs | undefined,
  attributes: Attributes,
  fn: (span: Span) => Promise<T>,
): Promise<T> {
  return tracer.startActiveSpan(
    `process ${subject}`,
    { kind: SpanKind.CONSUMER, attributes: { ...messagingAttributes(subject, 'process'), ...attributes } },
    extractContext(headers),
    (span) => endSpanAfter(span, fn),
  );
}

async function endSpanAfter<T>(span: Span, fn: (span: Span) => Promise<T>): Promise<T> {
  try {
    return await fn(span);
  } catch (err) {
    span.recordException(err as Error);
    span.setStatus({ code: SpanStatusCode.ERROR, message: (err as Error).message });
    throw err;
  } finally {
    span.end();
  }
}
