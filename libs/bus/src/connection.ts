import { connect, credsAuthenticator, errors, type NatsConnection } from '@nats-io/transport-node';
import type { Logger } from 'pino';
import { BusAuthError } from './errors';

export type { NatsConnection };

export interface BusConnectOptions {
  servers: string[];
  /** Client name shown by the server (`nats server report connections`). */
  name: string;
  logger: Logger;
  /** The service's .creds file content (user JWT + seed); none connects anonymously. */
  creds?: Uint8Array;
  /** Where replies come back (`inboxPrefix(node, service)`): the only inbox its identity may read. */
  inboxPrefix?: string;
}

/**
 * Connects to NATS and stays connected: waits for a server that is not up yet and
 * reconnects forever after a loss, logging each change, so a NATS outage delays a
 * service and never kills it. A server that refuses the credentials (or their absence)
 * is not an outage: it rejects with BusAuthError at once (nats.js gives up after the
 * same authorization error twice), so the service can exit with a configuration error.
 */
export async function connectBus(opts: BusConnectOptions): Promise<NatsConnection> {
  let nc: NatsConnection;
  try {
    nc = await connect({
      servers: opts.servers,
      name: opts.name,
      waitOnFirstConnect: true,
      maxReconnectAttempts: -1,
      reconnectTimeWait: 1000,
      ...(opts.creds ? { authenticator: credsAuthenticator(opts.creds) } : {}),
      ...(opts.inboxPrefix ? { inboxPrefix: opts.inboxPrefix } : {}),
    });
  } catch (err) {
    if (err instanceof errors.AuthorizationError || err instanceof errors.UserAuthenticationExpiredError) {
      throw new BusAuthError(opts.servers.join(','), opts.creds !== undefined, { cause: err });
    }
    throw err;
  }
  opts.logger.info({ server: nc.getServer() }, 'connected to NATS');
  const nodeInboxes = opts.inboxPrefix ? `${opts.inboxPrefix.slice(0, opts.inboxPrefix.lastIndexOf('.'))}.` : undefined;
  void (async () => {
    for await (const s of nc.status()) {
      if (s.type === 'error' && nodeInboxes && isForeignReply(s.error, nodeInboxes)) {
        // $SRV discovery is not node-scoped: every node's service hears every ping, and
        // may answer only its own node's (the bus's permissions). Not a fault here.
        opts.logger.debug({ subject: (s.error as InstanceType<typeof errors.PermissionViolationError>).subject }, 'a reply to another node was refused');
        continue;
      }
      if (s.type === 'disconnect' || s.type === 'reconnect' || s.type === 'error') {
        opts.logger.warn({ event: s.type, status: s }, `NATS ${s.type}`);
      }
    }
  })();
  return nc;
}

function isForeignReply(err: unknown, nodeInboxes: string): boolean {
  return err instanceof errors.PermissionViolationError && err.operation === 'publish' && err.subject.startsWith('_INBOX') && !err.subject.startsWith(nodeInboxes);
}
