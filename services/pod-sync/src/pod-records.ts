import type { KV } from '@nats-io/kv';
import { create, toBinary, type MessageInitShape } from '@bufbuild/protobuf';
import { kvGet, podRecordKey, podRecordsOfShard, POD_SYNC_SHARDS } from '@splitlet/bus';
import { podsyncv1 } from '@splitlet/contracts';
import type { Logger } from '@splitlet/telemetry';

export type StoredPodRecord = podsyncv1.PodRecord;
export type PodRecordInit = MessageInitShape<typeof podsyncv1.PodRecordSchema>;

/** Every shard of the node's pods. */
export const ALL_POD_SHARDS: readonly number[] = Array.from({ length: POD_SYNC_SHARDS }, (_, i) => i);

/**
 * pod-sync's pod records in its bucket (podSyncBucket, `record.<shard>.<uid>`): what a
 * pod's next holder reads — the replica a shard moves to, or the process restarted
 * after this one. Writes go one at a time, in the order asked, so a later record of a
 * pod never lands under an earlier one. A bucket that does not answer costs only what
 * it would have kept: the pod is synced as a pod-sync that has just started syncs it.
 */
export class PodRecordStore {
  private kv: Promise<KV> | undefined;
  private writes: Promise<void> = Promise.resolve();

  constructor(
    private readonly open: () => Promise<KV>,
    private readonly logger: Logger,
  ) {}

  private bucket(): Promise<KV> {
    return (this.kv ??= this.open().catch((err: unknown) => {
      this.kv = undefined;
      throw err;
    }));
  }

  /** The records kept of the shards' pods, by pod UID (a value that does not decode is none). */
  async load(shards: readonly number[]): Promise<Map<string, StoredPodRecord>> {
    const kv = await this.bucket();
    const out = new Map<string, StoredPodRecord>();
    for (const shard of shards) {
      const keys: string[] = [];
      for await (const k of await kv.keys(podRecordsOfShard(shard))) keys.push(k);
      await Promise.all(
        keys.map(async (k) => {
          const record = await kvGet(kv, k, podsyncv1.PodRecordSchema);
          const uid = k.split('.')[2];
          if (record && uid && podRecordKey(uid) === k) out.set(uid, record);
        }),
      );
    }
    return out;
  }

  /** The record kept of one pod, if any (a value that does not decode is none). */
  async get(uid: string): Promise<StoredPodRecord | undefined> {
    const key = podRecordKey(uid);
    return key ? kvGet(await this.bucket(), key, podsyncv1.PodRecordSchema) : undefined;
  }

  /** Keeps the pod's record (in the background; resolves once written, or its failure logged). */
  save(uid: string, record: PodRecordInit): Promise<void> {
    const key = podRecordKey(uid);
    if (!key) return Promise.resolve();
    const value = toBinary(podsyncv1.PodRecordSchema, create(podsyncv1.PodRecordSchema, record));
    return this.serially(async () => {
      await (await this.bucket()).put(key, value);
    }, uid, 'the pod record could not be kept: its next holder starts its back-off afresh');
  }

  /** Drops the record of a pod gone from the API server. */
  forget(uid: string): Promise<void> {
    const key = podRecordKey(uid);
    if (!key) return Promise.resolve();
    return this.serially(async () => {
      await (await this.bucket()).delete(key);
    }, uid, 'the pod record could not be dropped');
  }

  /** Resolves once every write asked so far is done. */
  flushed(): Promise<void> {
    return this.writes;
  }

  private serially(write: () => Promise<void>, uid: string, failure: string): Promise<void> {
    const next = this.writes.then(write).catch((err: unknown) => this.logger.warn({ uid, err: (err as Error).message }, failure));
    this.writes = next;
    return next;
  }
}
