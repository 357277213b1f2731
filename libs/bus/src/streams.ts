import { create, toBinary, type DescMessage, type MessageInitShape } from '@bufbuild/protobuf';
import { DiscardPolicy, jetstream, jetstreamManager, RetentionPolicy, type JetStreamClient, type JetStreamManager, type StreamConfig } from '@nats-io/jetstream';
import { headers as natsHeaders, nanos, type NatsConnection } from '@nats-io/transport-node';
import type { Attributes } from '@opentelemetry/api';
import { nodePrefix, nodeToken, podStatusesSubject, podStatusSubject, statusShardOf } from './subjects';
import { injectContext, withProducerSpan } from './tracing';

/** The subject of a node's container lifecycle events (a JetStream stream). */
export const containerEventsSubject = (nodeName: string): string => `${nodePrefix(nodeName)}.events.v1.container`;

/** The JetStream stream that keeps a node's events (names may not hold dots). */
export const eventsStreamName = (nodeName: string): string => `SPLITLET_EVENTS_${nodeToken(nodeName)}`;

/**
 * How long what a producer hands to status-reporter is kept for it while it is away:
 * the API server's default `--event-ttl` (an hour). An Event written later would be
 * deleted by the API server soon after; a status that old was sent again meanwhile
 * (pod-sync's resync publishes every pod's status every minute or so).
 */
export const STATUS_REPORTER_BACKLOG_MS = 3_600_000;

/** The stream that keeps the latest status of each pod of a node for status-reporter. */
export const statusStreamName = (nodeName: string): string => `SPLITLET_STATUS_${nodeToken(nodeName)}`;

/** The work-queue stream that keeps a node's Events until status-reporter has written them. */
export const kubeEventsStreamName = (nodeName: string): string => `SPLITLET_KUBE_EVENTS_${nodeToken(nodeName)}`;

/**
 * The subject of the Kubernetes Events about one object of a node (a pod by its UID,
 * the Node by its name): `splitlet.<node>.events.v1.kube.<shard>`, the object's status
 * shard, so every Event of one object meets the one status-reporter replica that holds
 * its shard (its counts and combined Events are that replica's correlator's).
 */
export const kubeEventsSubject = (nodeName: string, objectUid: string): string => shardEventsSubject(nodeName, statusShardOf(objectUid));

/** The Events subject of one status shard. */
export const shardEventsSubject = (nodeName: string, shard: number): string => `${nodePrefix(nodeName)}.events.v1.kube.${shard}`;

/** Every Events subject of a node (the Events stream's, and for permissions): `splitlet.<node>.events.v1.kube.*`. */
export const kubeEventsSubjects = (nodeName: string): string => `${nodePrefix(nodeName)}.events.v1.kube.*`;

/**
 * The status stream: a subject per pod, only its latest message kept ("latest wins"),
 * so status-reporter coming back reads one status per pod, the newest; 10 000 pods at
 * most. Bounded by counts, not max_bytes: a stream's max_bytes is reserved from the
 * server's JetStream storage whether used or not (two such streams per node exhausted
 * the lab's 48 GB after some hundred test nodes: "insufficient storage resources").
 */
export const ensureStatusStream = (nc: NatsConnection, nodeName: string): Promise<void> =>
  ensureStream(nc, statusStreamName(nodeName), [podStatusesSubject(nodeName)], STATUS_REPORTER_BACKLOG_MS, {
    max_msgs_per_subject: 1,
    max_msgs: 10_000,
    discard: DiscardPolicy.Old,
  });

/**
 * The Events stream: a work queue — an Event leaves it once status-reporter has written
 * (or refused) it — of at most 100 000 Events, the oldest dropped past that.
 */
export const ensureKubeEventsStream = (nc: NatsConnection, nodeName: string): Promise<void> =>
  ensureStream(nc, kubeEventsStreamName(nodeName), [kubeEventsSubjects(nodeName)], STATUS_REPORTER_BACKLOG_MS, {
    retention: RetentionPolicy.Workqueue,
    max_msgs: 100_000,
    discard: DiscardPolicy.Old,
  });

/**
 * Creates the stream, or updates it to this configuration: file storage, messages
 * kept for maxAgeMs, duplicates (same Nats-Msg-Id) dropped within two minutes, and
 * `extra`.
 */
export async function ensureStream(nc: NatsConnection, name: string, subjects: string[], maxAgeMs: number, extra: Partial<StreamConfig> = {}): Promise<void> {
  const jsm = await jetstreamManager(nc);
  const config = { ...extra, name, subjects, max_age: nanos(maxAgeMs), duplicate_window: nanos(120_000) };
  try {
    await jsm.streams.info(name);
    await jsm.streams.update(name, config);
  } catch {
    await jsm.streams.add(config);
  }
}

/**
 * Publishes one message of `schema` to a stream, in a PRODUCER span carrying trace
 * context; msgId makes a repeat of the same message (after a restart) a no-op.
 */
export function publishToStream<D extends DescMessage>(
  js: JetStreamClient,
  subject: string,
  schema: D,
  message: MessageInitShape<D>,
  opts: { msgId: string; attributes?: Attributes },
): Promise<void> {
  return withProducerSpan(subject, opts.attributes ?? {}, async () => {
    const headers = natsHeaders();
    injectContext(headers);
    await js.publish(subject, toBinary(schema, create(schema, message)), { msgID: opts.msgId, headers });
  });
}

const clients = new WeakMap<NatsConnection, JetStreamClient>();
/** One JetStream client per connection. */
export function jetstreamOf(nc: NatsConnection): JetStreamClient {
  let js = clients.get(nc);
  if (!js) clients.set(nc, (js = jetstream(nc)));
  return js;
}

const managers = new WeakMap<NatsConnection, Promise<JetStreamManager>>();
function managerOf(nc: NatsConnection): Promise<JetStreamManager> {
  let jsm = managers.get(nc);
  if (!jsm) {
    managers.set(nc, (jsm = jetstreamManager(nc)));
    jsm.catch(() => managers.delete(nc));
  }
  return jsm;
}

/** Removes a pod's last status from the status stream (the pod is gone from the API server). */
export async function forgetPodStatus(nc: NatsConnection, nodeName: string, podUid: string): Promise<void> {
  const jsm = await managerOf(nc);
  await jsm.streams.purge(statusStreamName(nodeName), { filter: podStatusSubject(nodeName, podUid) });
}

/**
 * publishToStream; when that fails (the stream may be missing: nobody created it yet,
 * or JetStream lost it), `ensure` creates the stream and the message goes once more.
 */
export async function publishEnsuring<D extends DescMessage>(
  nc: NatsConnection,
  ensure: () => Promise<void>,
  subject: string,
  schema: D,
  message: MessageInitShape<D>,
  opts: { msgId: string; attributes?: Attributes },
): Promise<void> {
  try {
    await publishToStream(jetstreamOf(nc), subject, schema, message, opts);
  } catch {
    await ensure();
    await publishToStream(jetstreamOf(nc), subject, schema, message, opts);
  }
}
