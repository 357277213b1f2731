import type { KvEntry } from '@nats-io/kv';
import { fromBinary, LeaderRecordSchema, ReplicaHeartbeatSchema, type MessageShape } from '@splitlet/contracts';
import type { Clock } from '../clock';

export type LeaderRecord = MessageShape<typeof LeaderRecordSchema>;
export type ReplicaHeartbeat = MessageShape<typeof ReplicaHeartbeatSchema>;

/** A bucket entry's leader record (an election's key, a shard's key); undefined when it does not decode. */
export function decodeLeader(entry: KvEntry): LeaderRecord | undefined {
  try {
    return fromBinary(LeaderRecordSchema, entry.value);
  } catch {
    return undefined;
  }
}

/** A bucket entry's replica heartbeat; undefined when it does not decode. */
export function decodeHeartbeat(entry: KvEntry): ReplicaHeartbeat | undefined {
  try {
    return fromBinary(ReplicaHeartbeatSchema, entry.value);
  } catch {
    return undefined;
  }
}

export const TIMED_OUT: unique symbol = Symbol('timed out');

/**
 * p, or TIMED_OUT when ms pass first by the clock (a fake one in tests): a KV call is
 * bounded by the lease's own timing, whatever NATS does.
 */
export function within<T>(clock: Clock, p: Promise<T>, ms: number): Promise<T | typeof TIMED_OUT> {
  const stop = new AbortController();
  const timer = clock.sleep(Math.max(1, ms), stop.signal).then(
    (): typeof TIMED_OUT => TIMED_OUT,
    () => new Promise<never>(() => undefined), // p settled first: this side never does
  );
  return Promise.race([p, timer]).finally(() => stop.abort());
}
