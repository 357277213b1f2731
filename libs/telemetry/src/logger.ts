import { trace } from '@opentelemetry/api';
import { pino, type Logger, type LoggerOptions } from 'pino';

export type { Logger };

/**
 * A structured JSON logger (pino). Every line logged inside a span carries the
 * span's trace_id and span_id, so logs and traces join up.
 */
export function createLogger(name: string, opts: Pick<LoggerOptions, 'level'> & { destination?: pino.DestinationStream } = {}): Logger {
  return pino(
    {
      name,
      level: opts.level ?? 'info',
      base: { pid: process.pid },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
      mixin() {
        const ctx = trace.getActiveSpan()?.spanContext();
        return ctx ? { trace_id: ctx.traceId, span_id: ctx.spanId } : {};
      },
    },
    opts.destination,
  );
}
