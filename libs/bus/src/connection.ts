import { connect, errors, type ConnectionOptions, type NatsConnection } from '@nats-io/transport-node';
import type { Logger } from 'pino';
import { nativeCredsAuthenticator } from './creds';
import { BusAuthError, BusCredentialsError, BusTlsError } from './errors';

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
  /** The CA that signed the server's certificate: the connection is TLS, the server verified by it. */
  caFile?: string;
}

/**
 * Connects to NATS and stays connected: waits for a server that is not up yet and
 * reconnects forever after a loss, logging each change, so a NATS outage delays a
 * service and never kills it. A server that refuses the credentials (or their absence)
 * is not an outage: it rejects with BusAuthError at once, so the service can exit with
 * a configuration error. Neither is a server whose certificate does not verify
 * (BusTlsError). A server that gave up waiting for the connection's CONNECT
 * ("Authentication Timeout": a process starved of CPU while it starts) refused no
 * identity: that is retried like an unreachable server, before and after connecting
 * (nats.js would otherwise close the connection for good on the second in a row).
 */
export async function connectBus(opts: BusConnectOptions): Promise<NatsConnection> {
  const authenticator = opts.creds ? credentials(opts.creds) : undefined;
  const options: ConnectionOptions = {
    servers: opts.servers,
    name: opts.name,
    maxReconnectAttempts: -1,
    reconnectTimeWait: RETRY_MS,
    ignoreAuthErrorAbort: true,
    // nats.js otherwise makes an Error (a stack trace) for every request, to give a
    // failed one its caller's stack: ~4 % of pod-sync's CPU while pods start at 5/s
    // (bench, issue 18). A failed request still says its subject and cause.
    noAsyncTraces: true,
    ...(authenticator ? { authenticator } : {}),
    ...(opts.inboxPrefix ? { inboxPrefix: opts.inboxPrefix } : {}),
    ...(opts.caFile ? { tls: { caFile: opts.caFile } } : {}),
  };
  let nc: NatsConnection | undefined;
  for (let attempt = 1; !nc; attempt++) {
    try {
      nc = await connect(options);
    } catch (err) {
      if (authRefusal(err)) throw new BusAuthError(opts.servers.join(','), opts.creds !== undefined, { cause: err });
      if (tlsRefusal(err)) throw new BusTlsError(opts.servers.join(','), opts.caFile, { cause: err });
      if (authTimeout(err)) opts.logger.warn({ attempt }, 'NATS timed the connection out before it authenticated; connecting again');
      else if (attempt === 1) opts.logger.warn({ err: (err as Error).message }, 'NATS is not reachable yet; waiting for it');
      await delay(RETRY_MS);
    }
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

/** A file that is not a user's .creds is refused here, before any connection (nats.js would retry it forever). */
function credentials(creds: Uint8Array) {
  try {
    return nativeCredsAuthenticator(creds);
  } catch (err) {
    throw new BusCredentialsError((err as Error).message, { cause: err });
  }
}

function isForeignReply(err: unknown, nodeInboxes: string): boolean {
  return err instanceof errors.PermissionViolationError && err.operation === 'publish' && err.subject.startsWith('_INBOX') && !err.subject.startsWith(nodeInboxes);
}

const RETRY_MS = 1000;
const delay = (ms: number) => new Promise((r) => setTimeout(r, ms));

const authTimeout = (err: unknown): boolean => err instanceof errors.AuthorizationError && /authentication timeout/i.test(err.message);
const authRefusal = (err: unknown): boolean => (err instanceof errors.AuthorizationError && !authTimeout(err)) || err instanceof errors.UserAuthenticationExpiredError;

// Node's codes for a certificate that does not verify (openssl's, e.g. UNABLE_TO_VERIFY_LEAF_SIGNATURE,
// SELF_SIGNED_CERT_IN_CHAIN, CERT_HAS_EXPIRED, ERR_TLS_CERT_ALTNAME_INVALID).
const TLS_CODES = /CERT|SIGNATURE|ISSUER|ALTNAME/;

function tlsRefusal(err: unknown): boolean {
  // A CA given for a server without TLS: nats.js says so in a ConnectionError of no
  // other kind ("server does not support 'tls'"), so here the text is all there is.
  if ((err instanceof errors.ConnectionError || err instanceof errors.InvalidArgumentError) && /\btls\b/i.test(err.message)) return true;
  for (let e: unknown = err; e instanceof Error; e = e.cause) {
    const code = (e as NodeJS.ErrnoException).code;
    if (typeof code === 'string' && TLS_CODES.test(code)) return true;
  }
  return false;
}

