import type { NatsConnection } from '@nats-io/transport-node';
import { NODE_SHUTDOWN_KEY, nodeStateBucket, openBucket, watchBucket } from '@splitlet/bus';
import { podsyncv1 } from '@splitlet/contracts';
import { readBootId, type Clock, type Runnable } from '@splitlet/service';
import type { Logger } from '@splitlet/telemetry';

/** The node's Ready error while it shuts down (the shutdown manager's ShutdownStatus). */
export const NODE_SHUTTING_DOWN = 'node is shutting down';
const RETRY_MS = 2_000;

/** Whether the node is shutting down, as registrar's status reads it. */
export interface ShutdownStatus {
  shuttingDown(): boolean;
}

/**
 * pod-sync's node shutdown state, followed in the node's bucket (`shutdown`): the node
 * shuts down while a state of this boot is there (one of an earlier boot is over).
 * Each change calls onChange at once, as the shutdown manager syncs the node status
 * when the shutdown begins.
 */
export class NodeShutdownWatch implements Runnable, ShutdownStatus {
  private shutting = false;

  constructor(
    private readonly nc: NatsConnection,
    private readonly nodeName: string,
    private readonly logger: Logger,
    private readonly clock: Clock,
    private readonly onChange: () => void,
    private readonly bootId: () => Promise<string> = readBootId,
  ) {}

  shuttingDown(): boolean {
    return this.shutting;
  }

  async run(signal: AbortSignal): Promise<void> {
    const boot = await this.bootId();
    while (!signal.aborted) {
      try {
        const kv = await openBucket(this.nc, nodeStateBucket(this.nodeName));
        // A value that does not decode counts as none (what pod-sync would read).
        await watchBucket(kv, podsyncv1.NodeShutdownStateSchema, (_key, value) => this.set(value !== undefined && value.bootId === boot), { logger: this.logger, signal, key: NODE_SHUTDOWN_KEY, undecodable: 'absent' });
      } catch (err) {
        if (signal.aborted) return;
        this.logger.warn({ err: (err as Error).message }, 'node shutdown state: the watch failed; watching again');
      }
      await this.clock.sleep(RETRY_MS, signal).catch(() => undefined);
    }
  }

  private set(shutting: boolean): void {
    if (shutting === this.shutting) return;
    this.shutting = shutting;
    this.logger.warn(shutting ? 'the node is shutting down: NotReady' : 'the node shutdown is over or cancelled');
    this.onChange();
  }
}
