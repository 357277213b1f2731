import { create, fromBinary, toBinary, type DescMessage, type MessageInitShape, type MessageShape } from '@bufbuild/protobuf';
import { Kvm, type KV } from '@nats-io/kv';
import type { NatsConnection } from '@nats-io/transport-node';
import type { Logger } from 'pino';
import { nodeToken } from './subjects';

// A node's shared derived state lives in JetStream KV buckets named per node
// (ARCHITECTURE.md, "Messaging"). Values are protobuf messages.

/** pod-sync's view of each pod for probing (splitlet.probe.v1.PodProbeView), keyed by pod UID. */
export const podsViewBucket = (nodeName: string): string => `SPLITLET_PODS_${nodeToken(nodeName)}`;

/** The prober's settled results (splitlet.probe.v1.ProbeResult), keyed by `<pod uid>.<container>.<kind>`. */
export const probeResultsBucket = (nodeName: string): string => `SPLITLET_PROBES_${nodeToken(nodeName)}`;

/** Live prober replicas (splitlet.probe.v1.ProberReplica), keyed by replica id; entries expire. */
export const proberReplicasBucket = (nodeName: string): string => `SPLITLET_PROBERS_${nodeToken(nodeName)}`;

export type ProbeKindName = 'liveness' | 'readiness' | 'startup';

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
 * aborts: a value, or undefined when the key was deleted, purged or expired. A value
 * that does not decode is logged and skipped; a failing handler is logged. Neither
 * stops the watch.
 */
export async function watchBucket<D extends DescMessage>(
  kv: KV,
  schema: D,
  handler: (key: string, value: MessageShape<D> | undefined) => void | Promise<void>,
  opts: { logger: Logger; signal: AbortSignal; key?: string },
): Promise<void> {
  const it = await kv.watch(opts.key ? { key: opts.key } : {});
  const stop = () => it.stop();
  opts.signal.addEventListener('abort', stop, { once: true });
  try {
    for await (const e of it) {
      let value: MessageShape<D> | undefined;
      if (e.operation === 'PUT') {
        try {
          value = fromBinary(schema, e.value);
        } catch (err) {
          opts.logger.warn({ key: e.key, err: (err as Error).message }, 'a KV value that does not decode was skipped');
          continue;
        }
      }
      try {
        await handler(e.key, value);
      } catch (err) {
        opts.logger.error({ key: e.key, err }, 'KV watch handler failed');
      }
    }
  } finally {
    opts.signal.removeEventListener('abort', stop);
  }
}
