import { Writable } from 'node:stream';
import { afterAll, describe, expect, it } from 'vitest';
import { context, trace } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { BasicTracerProvider } from '@opentelemetry/sdk-trace-base';
import { createLogger } from './logger';

describe('telemetry logger', () => {
  const manager = new AsyncLocalStorageContextManager().enable();
  context.setGlobalContextManager(manager);
  afterAll(() => context.disable());

  it('createLogger - writes JSON lines, with trace_id and span_id on lines logged inside a span', () => {
    const lines: Record<string, unknown>[] = [];
    const destination = new Writable({
      write(chunk: Buffer, _enc, cb) {
        lines.push(JSON.parse(chunk.toString()) as Record<string, unknown>);
        cb();
      },
    });
    const logger = createLogger('svc', { destination });
    const span = new BasicTracerProvider().getTracer('t').startSpan('s');
    logger.info('outside');
    context.with(trace.setSpan(context.active(), span), () => logger.info('inside'));
    span.end();
    expect(lines[0]).toMatchObject({ level: 'info', name: 'svc', msg: 'outside' });
    expect(lines[0]).not.toHaveProperty('trace_id');
    expect(lines[1]).toMatchObject({ msg: 'inside', trace_id: span.spanContext().traceId, span_id: span.spanContext().spanId });
  });
});
