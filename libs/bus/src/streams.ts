import { create, toBinary, type DescMessage, type MessageInitShape } from '@bufbuild/protobuf';
import { jetstreamManager, type JetStreamClient } from '@nats-io/jetstream';
import { headers as natsHeaders, nanos, type NatsConnection } from '@nats-io/transport-node';
import type { Attributes } from '@opentelemetry/api';
import { nodePrefix, nodeToken } from './subjects';
import { injectContext, withProducerSpan } from './tracing';

/** The subject of a node's container lifecycle events (a JetStream stream). */
export const containerEventsSubject = (nodeName: string): string => `${nodePrefix(nodeName)}.events.v1.container`;

/** The JetStream stream that keeps a node's events (names may not hold dots). */
export const eventsStreamName = (nodeName: string): string => `SPLITLET_EVENTS_${nodeToken(nodeName)}`;

/**
 * Creates the stream, or updates it to this configuration: file storage, messages
 * kept for maxAgeMs, duplicates (same Nats-Msg-Id) dropped within two minutes.
 */
export async function ensureStream(nc: NatsConnection, name: string, subjects: string[], maxAgeMs: number): Promise<void> {
  const jsm = await jetstreamManager(nc);
  const config = { name, subjects, max_age: nanos(maxAgeMs), duplicate_window: nanos(120_000) };
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
