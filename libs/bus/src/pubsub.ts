import { create, fromBinary, toBinary, type DescMessage, type MessageInitShape, type MessageShape } from '@bufbuild/protobuf';
import { headers as natsHeaders, type NatsConnection, type Subscription } from '@nats-io/transport-node';
import type { Attributes } from '@opentelemetry/api';
import type { Logger } from 'pino';
import { injectContext, withConsumerSpan, withProducerSpan } from './tracing';

/** Publishes one message of `schema` on subject, in a PRODUCER span carrying trace context. */
export function publish<D extends DescMessage>(
  nc: NatsConnection,
  subject: string,
  schema: D,
  message: MessageInitShape<D>,
  attributes: Attributes = {},
): Promise<void> {
  return withProducerSpan(subject, attributes, async () => {
    const headers = natsHeaders();
    injectContext(headers);
    nc.publish(subject, toBinary(schema, create(schema, message)), { headers });
  });
}

export interface SubscribeOptions {
  logger: Logger;
  queue?: string;
}

/**
 * Handles each message of `schema` on subject in a CONSUMER span. A message that
 * does not decode is logged and dropped; a failing handler is logged. Neither stops
 * the subscription.
 */
export function subscribe<D extends DescMessage>(
  nc: NatsConnection,
  subject: string,
  schema: D,
  handler: (message: MessageShape<D>, subject: string) => Promise<void>,
  opts: SubscribeOptions,
): Subscription {
  return nc.subscribe(subject, {
    ...(opts.queue ? { queue: opts.queue } : {}),
    callback: (err, msg) => {
      if (err) {
        opts.logger.error({ err, subject }, 'subscription error');
        return;
      }
      void withConsumerSpan(msg.subject, msg.headers, {}, async () => {
        let decoded: MessageShape<D>;
        try {
          decoded = fromBinary(schema, msg.data);
        } catch (e) {
          opts.logger.warn({ subject: msg.subject, err: (e as Error).message }, 'malformed message dropped');
          return;
        }
        await handler(decoded, msg.subject);
      }).catch((e: unknown) => opts.logger.error({ err: e, subject: msg.subject }, 'message handler failed'));
    },
  });
}
