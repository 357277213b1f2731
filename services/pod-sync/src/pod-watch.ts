import { inject, injectable } from 'tsyringe';
import { TOKENS, untilAborted, type Runnable } from '@splitlet/service';
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
    @inject(TOKENS.Logger) private readonly logger: Logger,
  ) {}

  async run(signal: AbortSignal): Promise<void> {
    // The informer retries (and logs) by itself until the first list succeeds.
    void this.informer.start().then(() => this.logger.info({ pods: this.informer.list().length }, 'watching the pods bound to this node'));
    await untilAborted(signal);
    this.informer.stop();
  }
}
