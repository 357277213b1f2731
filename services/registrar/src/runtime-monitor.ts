import { SpanKind, trace } from '@opentelemetry/api';
import { inject, injectable } from 'tsyringe';
import { isBusError, type ServiceClient } from '@splitlet/bus';
import type { RuntimeService, VersionResponse } from '@splitlet/contracts';
import { TOKENS, type Clock, type Runnable } from '@splitlet/service';
import { ATTR, type Logger } from '@splitlet/telemetry';
import { REG } from './tokens';

/** What the registrar last learned of the container runtime. */
export type RuntimeHealth =
  | { state: 'unknown' }
  | { state: 'ready'; version: VersionResponse }
  | { state: 'unreachable'; reason: string; message: string };

const tracer = trace.getTracer('registrar');

/**
 * Asks runtime-executor for the runtime's version on a timer, keeping the latest
 * answer (or why there was none) for the node's status.
 */
@injectable()
export class RuntimeMonitor implements Runnable {
  health: RuntimeHealth = { state: 'unknown' };

  constructor(
    @inject(REG.Runtime) private readonly runtime: ServiceClient<typeof RuntimeService>,
    @inject(REG.RuntimeCheckIntervalMs) private readonly intervalMs: number,
    @inject(TOKENS.NodeName) private readonly nodeName: string,
    @inject(TOKENS.Clock) private readonly clock: Clock,
    @inject(TOKENS.Logger) private readonly logger: Logger,
  ) {}

  async run(signal: AbortSignal): Promise<void> {
    while (!signal.aborted) {
      await this.check();
      await this.clock.sleep(this.intervalMs, signal).catch(() => undefined);
    }
  }

  /** One check, in a span of its own: the root of the request's trace. */
  check(): Promise<RuntimeHealth> {
    return tracer.startActiveSpan('registrar check runtime', { kind: SpanKind.INTERNAL, attributes: { [ATTR.nodeName]: this.nodeName } }, async (span) => {
      try {
        const version = await this.runtime.version({ version: 'v1' });
        if (this.health.state !== 'ready') this.logger.info({ runtime: `${version.runtimeName}://${version.runtimeVersion}` }, 'container runtime is ready');
        this.health = { state: 'ready', version };
      } catch (err) {
        if (!isBusError(err)) throw err;
        const reason = err.kind === 'remote' ? 'RuntimeError' : err.kind === 'no-responders' ? 'RuntimeExecutorAbsent' : 'RuntimeExecutorTimeout';
        if (this.health.state !== 'unreachable' || this.health.reason !== reason) this.logger.warn({ reason, err: err.message }, 'container runtime is not ready');
        this.health = { state: 'unreachable', reason, message: err.message };
      } finally {
        span.end();
      }
      return this.health;
    });
  }
}
