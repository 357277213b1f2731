import type { KV } from '@nats-io/kv';
import { kvEntries, kvPut, probeResultKey, watchBucket } from '@splitlet/bus';
import { create, ProbeResultSchema, ProbeResultValue, type ProbeResult } from '@splitlet/contracts';
import type { Clock } from '@splitlet/service';
import type { Logger } from '@splitlet/telemetry';
import { kindEnum, type ProbeKindName } from './probe-kind';

/** A settled value; 'unknown' (a startup probe's initial value) is never published. */
export type SettledValue = 'success' | 'failure' | 'unknown';

/** The probe results as the node shares them. */
export interface ProbeResults {
  /** What the bucket holds for one probe (as last seen), or undefined. */
  get(podUid: string, container: string, kind: ProbeKindName): ProbeResult | undefined;
  /**
   * Settles a probe's result for a container instance. Published only when the bucket
   * holds something else for it (another value or another instance): a repeated or
   * restarted worker never republishes. Must not block.
   */
  set(podUid: string, container: string, kind: ProbeKindName, containerId: string, value: SettledValue, message: string): void;
  /** Deletes every result of a pod that is gone. */
  deletePod(podUid: string): Promise<void>;
  /** Pod UIDs that have results. */
  podUids(): Set<string>;
}

const toWire = (v: 'success' | 'failure'): ProbeResultValue => (v === 'success' ? ProbeResultValue.SUCCESS : ProbeResultValue.FAILURE);

/** Whether settling value for containerId changes what is held (the one rule for publishing). */
export function changesHeld(held: ProbeResult | undefined, containerId: string, value: SettledValue): value is 'success' | 'failure' {
  if (value === 'unknown') return false;
  return !held || held.containerId !== containerId || held.result !== toWire(value);
}

/**
 * The results bucket SPLITLET_PROBES_<node>, mirrored in memory by a watch, so that
 * "differs from what the bucket holds" is a map lookup and another replica's writes
 * (a handover) are seen too.
 */
export class KvProbeResults implements ProbeResults {
  private readonly mirror = new Map<string, ProbeResult>();

  constructor(
    private readonly kv: KV,
    private readonly replicaId: string,
    private readonly clock: Clock,
    private readonly logger: Logger,
  ) {}

  /** Loads the bucket, then keeps following it until signal aborts; resolves once loaded. */
  async start(signal: AbortSignal): Promise<{ watching: Promise<void> }> {
    for (const [k, v] of await kvEntries(this.kv, ProbeResultSchema)) this.mirror.set(k, v);
    const watching = watchBucket(
      this.kv,
      ProbeResultSchema,
      (key, value) => {
        if (value) this.mirror.set(key, value);
        else this.mirror.delete(key);
      },
      { logger: this.logger, signal },
    ).catch((err: unknown) => {
      // Held by the caller only later (or not at all): a watch that cannot start — the
      // connection closing meanwhile — must not be an unhandled rejection.
      if (!signal.aborted) this.logger.warn({ err: (err as Error).message }, 'probe results watch ended');
    });
    return { watching };
  }

  get(podUid: string, container: string, kind: ProbeKindName): ProbeResult | undefined {
    return this.mirror.get(probeResultKey(podUid, container, kind));
  }

  set(podUid: string, container: string, kind: ProbeKindName, containerId: string, value: SettledValue, message: string): void {
    const key = probeResultKey(podUid, container, kind);
    const held = this.mirror.get(key);
    if (!changesHeld(held, containerId, value)) return;
    const result = create(ProbeResultSchema, {
      podUid,
      containerName: container,
      kind: kindEnum(kind),
      containerId,
      result: toWire(value),
      message,
      time: BigInt(this.clock.now()) * 1_000_000n,
      prober: this.replicaId,
    });
    // Seen at once, so the next set compares with it (the watch's echo agrees later).
    this.mirror.set(key, result);
    kvPut(this.kv, key, ProbeResultSchema, result).catch((err: unknown) => {
      // Forget it: the next settle of the same value publishes again.
      if (this.mirror.get(key) === result) {
        if (held) this.mirror.set(key, held);
        else this.mirror.delete(key);
      }
      this.logger.warn({ key, err }, 'a probe result could not be published');
    });
  }

  async deletePod(podUid: string): Promise<void> {
    const keys = [...this.mirror.keys()].filter((k) => k.startsWith(`${podUid}.`));
    for (const k of keys) this.mirror.delete(k);
    await Promise.all(keys.map((k) => this.kv.delete(k)));
  }

  podUids(): Set<string> {
    return new Set([...this.mirror.values()].map((r) => r.podUid));
  }
}
