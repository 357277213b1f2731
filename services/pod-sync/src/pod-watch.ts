import { inject, injectable } from 'tsyringe';
import { TOKENS, untilAborted, type Clock, type Runnable } from '@splitlet/service';
import type { PodInformer } from '@splitlet/kube';
import type { Logger } from '@splitlet/telemetry';
import { SYNC } from './tokens';

/**
 * Keeps the view of the pods bound to this node. Pod workers come with their own
 * issue; for now the watch is the service's whole duty.
 */
@injectable()
export class PodWatch implements Runnable {
  constructor(
    @inject(SYNC.PodInformer) private readonly informer: PodInformer,
    @inject(TOKENS.Clock) private readonly clock: Clock,
    @inject(TOKENS.Logger) private readonly logger: Logger,
  ) {}

  async run(signal: AbortSignal): Promise<void> {
    // The informer retries by itself after a failed start; wait for the first list.
    for (let delay = 500; !signal.aborted; delay = Math.min(delay * 2, 30_000)) {
      try {
        await this.informer.start();
        this.logger.info({ pods: this.informer.list().length }, 'watching the pods bound to this node');
        break;
      } catch (err) {
        this.logger.warn({ err: (err as Error).message, retryInMs: delay }, 'cannot list the pods bound to this node');
        await this.clock.sleep(delay, signal).catch(() => undefined);
      }
    }
    await untilAborted(signal);
    this.informer.stop();
  }
}
