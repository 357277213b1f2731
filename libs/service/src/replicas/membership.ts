import type { KV } from '@nats-io/kv';
import { kvEntries, kvPut } from '@splitlet/bus';
import { ReplicaHeartbeatSchema } from '@splitlet/contracts';
import type { Logger } from '@splitlet/telemetry';
import type { Clock } from '../clock';

export interface ReplicaSettings {
  id: string;
  heartbeatMs: number;
  /** A replica whose heartbeat is older than this is dead (also the bucket's TTL). */
  ttlMs: number;
}

/**
 * This replica's membership in a sharing bucket of the node (the prober's
 * SPLITLET_PROBERS_<node>): a heartbeat every heartbeatMs (the bucket's TTL removes a
 * replica that stops), and the live replicas as read back at each beat. onChange gets
 * the sorted live ids whenever they change; this replica always counts itself in, so
 * a lone replica owns everything even while NATS is away.
 */
export class Membership {
  private live: string[] = [];
  private readonly startedAt: bigint;

  constructor(
    private readonly kv: KV,
    private readonly settings: ReplicaSettings,
    private readonly clock: Clock,
    private readonly logger: Logger,
    private readonly onChange: (live: readonly string[]) => void,
  ) {
    this.startedAt = nanos(clock.now());
  }

  get members(): readonly string[] {
    return this.live;
  }

  /** Announces this replica and reads the others once (before the first keys are owned). */
  async join(): Promise<void> {
    await this.beat();
  }

  /** Beats until signal aborts, then leaves (deletes its key) so the others take over at once. */
  async run(signal: AbortSignal): Promise<void> {
    try {
      for (;;) {
        await this.clock.sleep(this.settings.heartbeatMs, signal);
        await this.beat().catch((err: unknown) => this.logger.warn({ err }, 'replica heartbeat failed'));
      }
    } catch {
      // aborted: leave
    }
    await this.kv.delete(this.settings.id).catch(() => undefined);
  }

  private async beat(): Promise<void> {
    const now = this.clock.now();
    await kvPut(this.kv, this.settings.id, ReplicaHeartbeatSchema, { id: this.settings.id, startedAt: this.startedAt, heartbeatAt: nanos(now) });
    const entries = await kvEntries(this.kv, ReplicaHeartbeatSchema);
    const ids = new Set([this.settings.id]);
    for (const [key, r] of entries) {
      // The bucket's TTL is the last word, but a stale heartbeat already counts as dead.
      if (now - Number(r.heartbeatAt / 1_000_000n) <= this.settings.ttlMs) ids.add(key);
    }
    const live = [...ids].sort();
    if (live.join(',') === this.live.join(',')) return;
    this.logger.info({ replicas: live }, 'replicas changed');
    this.live = live;
    this.onChange(live);
  }
}

export const nanos = (ms: number): bigint => BigInt(ms) * 1_000_000n;
