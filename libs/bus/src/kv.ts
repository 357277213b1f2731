import { create, fromBinary, toBinary, type DescMessage, type MessageInitShape, type MessageShape } from '@bufbuild/protobuf';
import { ProbeKind } from '@splitlet/contracts';
import { Kvm, type KV } from '@nats-io/kv';
import type { NatsConnection } from '@nats-io/transport-node';
import type { Logger } from 'pino';
import { nodeToken, shardOf } from './subjects';

// A node's shared derived state lives in JetStream KV buckets named per node
// (ARCHITECTURE.md, "Messaging"). Values are protobuf messages.

/** pod-sync's view of each pod for probing (splitlet.probe.v1.PodProbeView), keyed by pod UID. */
export const podsViewBucket = (nodeName: string): string => `SPLITLET_PODS_${nodeToken(nodeName)}`;

/** The prober's settled results (splitlet.probe.v1.ProbeResult), keyed by `<pod uid>.<container>.<kind>`. */
export const probeResultsBucket = (nodeName: string): string => `SPLITLET_PROBES_${nodeToken(nodeName)}`;

/** Live prober replicas (splitlet.replica.v1.ReplicaHeartbeat), keyed by replica id; entries expire. */
export const proberReplicasBucket = (nodeName: string): string => `SPLITLET_PROBERS_${nodeToken(nodeName)}`;

/**
 * The image names the node pulled (splitlet.runtime.v1.PulledImage), keyed by the name
 * in unpadded base64url: runtime-executor's record of which images are the node's to
 * garbage-collect. Its only reader and writer is runtime-executor.
 */
export const pulledImagesBucket = (nodeName: string): string => `SPLITLET_IMAGES_${nodeToken(nodeName)}`;

/**
 * The node's own state shared between its services, one key per fact: `shutdown`
 * (splitlet.podsync.v1.NodeShutdownState), written by pod-sync's node shutdown manager
 * and read by registrar (the node is NotReady while it shuts down).
 */
export const nodeStateBucket = (nodeName: string): string => `SPLITLET_NODE_${nodeToken(nodeName)}`;

/** The key of the node shutdown's state in nodeStateBucket. */
export const NODE_SHUTDOWN_KEY = 'shutdown';

/**
 * Registrar's election (splitlet.replica.v1.LeaderRecord under LEADER_KEY): which of
 * its replicas is the one writer of the Node and its Lease; the others stand by.
 */
export const registrarLeaderBucket = (nodeName: string): string => `SPLITLET_REGISTRAR_${nodeToken(nodeName)}`;

/**
 * status-reporter's shard leases: which of its replicas is the one writer of each
 * status shard's pod statuses and Events (a key `shard.<n>` per shard, each held as
 * registrar's leader key).
 */
export const statusReporterLeasesBucket = (nodeName: string): string => `SPLITLET_STATUS_REPORTER_${nodeToken(nodeName)}`;

/** status-reporter's replicas' heartbeats (their membership, as the prober's), which the shards are spread over. */
export const statusReporterReplicasBucket = (nodeName: string): string => `SPLITLET_STATUS_REPORTERS_${nodeToken(nodeName)}`;

/**
 * How many shards a node's pods are split into among pod-sync's replicas (a contract:
 * every replica must agree). A pod's record key carries its shard, so a replica taking
 * a shard reads the records of that shard only.
 */
export const POD_SYNC_SHARDS = 8;

/**
 * pod-sync's own bucket, its only reader and writer pod-sync: what it holds of each pod
 * that must outlive the process holding it (splitlet.podsync.v1.PodRecord under
 * podRecordKey: the crash-loop back-off, the reason cache, the last status handed
 * over); the node's decisions about pods, taken by the replica that leads and carried
 * out by the one that syncs the pod (`admit.<uid>`: AdmissionDecision, `evict.<uid>`:
 * PodEviction); and its replicas' shard keys (`shard.<n>`).
 */
export const podSyncBucket = (nodeName: string): string => `SPLITLET_POD_SYNC_${nodeToken(nodeName)}`;

/** pod-sync's replicas' heartbeats (their membership), which the pod shards are spread over. */
export const podSyncReplicasBucket = (nodeName: string): string => `SPLITLET_POD_SYNCS_${nodeToken(nodeName)}`;

/** The pod records of one pod-sync shard: `record.<shard>.*`. */
export const podRecordsOfShard = (shard: number): string => `record.${shard}.*`;

/**
 * A pod's record key in podSyncBucket, `record.<shard>.<uid>`; undefined for a UID no
 * key can hold (the API server's are RFC 4122 text; a static pod's, hex).
 */
export const podRecordKey = (uid: string): string | undefined => (isKeyToken(uid) ? `record.${shardOf(uid, POD_SYNC_SHARDS)}.${uid}` : undefined);

/** A pod's decision key in podSyncBucket (`admit.<uid>`, `evict.<uid>`); undefined for a UID no key can hold. */
export const podDecisionKey = (kind: 'admit' | 'evict', uid: string): string | undefined => (isKeyToken(uid) ? `${kind}.${uid}` : undefined);

/** Whether a pod UID can be one token of a KV key. */
const isKeyToken = (uid: string): boolean => /^[A-Za-z0-9_-]{1,128}$/.test(uid);

/** The key an election's bucket holds its leader under. */
export const LEADER_KEY = 'leader';

export type ProbeKindName = 'liveness' | 'readiness' | 'startup';

const KIND_NAMES: Partial<Record<ProbeKind, ProbeKindName>> = { [ProbeKind.LIVENESS]: 'liveness', [ProbeKind.READINESS]: 'readiness', [ProbeKind.STARTUP]: 'startup' };

/** A ProbeKind's name as result keys carry it; undefined for UNSPECIFIED or a value no probe has. */
export const probeKindName = (kind: ProbeKind): ProbeKindName | undefined => KIND_NAMES[kind];

/** The ProbeKind a name stands for. */
export const probeKindOf = (name: ProbeKindName): ProbeKind => (name === 'liveness' ? ProbeKind.LIVENESS : name === 'readiness' ? ProbeKind.READINESS : ProbeKind.STARTUP);

/**
 * How far ahead of the clock a pod's probe view version (microseconds) may be: the
 * prober drops a view further ahead (a forged 2^63−1 would stay newest for good), and
 * pod-sync never puts a version past it.
 */
export const MAX_VIEW_VERSION_AHEAD_MS = 60_000;

/** The key of one probe's result: `<pod uid>.<container>.<kind>` (UIDs and container names hold no dots). */
export const probeResultKey = (podUid: string, container: string, kind: ProbeKindName): string => `${podUid}.${container}.${kind}`;

/**
 * Opens a bucket, creating it when missing: one value per key (no history); with
 * ttlMs, a key not written again within ttlMs disappears.
 */
export async function openBucket(nc: NatsConnection, name: string, opts: { ttlMs?: number } = {}): Promise<KV> {
  return new Kvm(nc).create(name, { history: 1, ...(opts.ttlMs ? { ttl: opts.ttlMs } : {}) });
}

/** Puts a protobuf message under key; returns the new revision. */
export function kvPut<D extends DescMessage>(kv: KV, key: string, schema: D, message: MessageInitShape<D>): Promise<number> {
  return kv.put(key, toBinary(schema, create(schema, message)));
}

/** The message under key, or undefined when there is none (or it does not decode). */
export async function kvGet<D extends DescMessage>(kv: KV, key: string, schema: D): Promise<MessageShape<D> | undefined> {
  const e = await kv.get(key);
  if (!e || e.operation !== 'PUT' || e.length === 0) return undefined;
  try {
    return fromBinary(schema, e.value);
  } catch {
    return undefined;
  }
}

/** Every current value of the bucket (values that do not decode are skipped). */
export async function kvEntries<D extends DescMessage>(kv: KV, schema: D): Promise<Map<string, MessageShape<D>>> {
  const out = new Map<string, MessageShape<D>>();
  for await (const k of await kv.keys()) {
    const v = await kvGet(kv, k, schema);
    if (v) out.set(k, v);
  }
  return out;
}

/**
 * Calls handler with every key's current value, then with each change until signal
 * aborts: a value, or undefined when the key was deleted, purged or expired, with the
 * entry's revision. A value that does not decode is logged and skipped, or with
 * `undecodable: 'absent'` handed over as undefined — what kvGet and kvEntries read
 * there, so a watcher believes what a restarted one would. A failing handler is
 * logged. Neither stops the watch.
 */
export async function watchBucket<D extends DescMessage>(
  kv: KV,
  schema: D,
  handler: (key: string, value: MessageShape<D> | undefined, entry: { revision: number }) => void | Promise<void>,
  opts: { logger: Logger; signal: AbortSignal; key?: string; undecodable?: 'skip' | 'absent' },
): Promise<void> {
  const it = await kv.watch(opts.key ? { key: opts.key } : {});
  const stop = () => it.stop();
  // Aborted while the watch was being set up: an abort listener added now never fires.
  if (opts.signal.aborted) stop();
  else opts.signal.addEventListener('abort', stop, { once: true });
  try {
    for await (const e of it) {
      let value: MessageShape<D> | undefined;
      if (e.operation === 'PUT') {
        try {
          value = fromBinary(schema, e.value);
        } catch (err) {
          opts.logger.warn({ key: e.key, err: (err as Error).message }, opts.undecodable === 'absent' ? 'a KV value that does not decode counts as none' : 'a KV value that does not decode was skipped');
          if (opts.undecodable !== 'absent') continue;
        }
      }
      try {
        await handler(e.key, value, { revision: e.revision });
      } catch (err) {
        opts.logger.error({ key: e.key, err }, 'KV watch handler failed');
      }
    }
  } finally {
    opts.signal.removeEventListener('abort', stop);
  }
}
