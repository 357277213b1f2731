import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect, credsAuthenticator, type NatsConnection } from '@nats-io/transport-node';
import { inboxPrefix } from '@splitlet/bus';
import { credsPath, loadOrCreateAuthority, OPERATOR_INBOX_PREFIX, mintNodeCreds, mintOperatorCreds, nodeCredsDir, serverAuthConfig, writeSecret, type BusAuthority, type BusServiceName } from '@splitlet/bus-auth';
import { startNatsServer, type NatsServer } from './nats-server';

export interface AuthNatsServer extends NatsServer {
  authority: BusAuthority;
  /** Mints (once per node) every service's .creds of a node; returns the file of one. */
  credsFile(nodeName: string, service: BusServiceName): Promise<string>;
  /** Connects as one service of one node, with its own inbox prefix, as the service does. */
  connectAs(nodeName: string, service: BusServiceName): Promise<NatsConnection>;
  /** A client with every right in the account, its inbox where services answer operators' tools. */
  connectAdmin(): Promise<NatsConnection>;
}

/**
 * A real nats-server with auth on, as the lab runs it: a fresh operator and account
 * (bus-creds' keys, in a temporary state dir) and their config; every identity minted
 * from the permission table.
 */
export async function startAuthNatsServer(opts: { authTimeoutSeconds?: number } = {}): Promise<AuthNatsServer> {
  const state = await mkdtemp(join(tmpdir(), 'splitlet-bus-auth-'));
  const authority = await loadOrCreateAuthority(state);
  const server = await startNatsServer({ config: await serverAuthConfig(authority, opts) });
  const minted = new Map<string, Promise<unknown>>();
  const credsFile = async (nodeName: string, service: BusServiceName) => {
    const dir = nodeCredsDir(state, nodeName);
    if (!minted.has(nodeName)) minted.set(nodeName, mintNodeCreds(authority, nodeName, dir));
    await minted.get(nodeName);
    return credsPath(dir, service);
  };
  return {
    ...server,
    authority,
    credsFile,
    connectAs: async (nodeName, service) => connectWithCreds(server.url, await credsFile(nodeName, service), inboxPrefix(nodeName, service)),
    connectAdmin: async () => {
      const file = join(state, 'operator.creds');
      await writeSecret(file, await mintOperatorCreds(authority));
      return connectWithCreds(server.url, file, OPERATOR_INBOX_PREFIX);
    },
    stop: async () => {
      await server.stop();
      await rm(state, { recursive: true, force: true });
    },
  };
}

/** Connects with a .creds file (and an inbox prefix its identity may read; over TLS verified by caFile). */
export async function connectWithCreds(servers: string | string[], credsFile: string, prefix?: string, caFile?: string): Promise<NatsConnection> {
  return connect({
    servers,
    authenticator: credsAuthenticator(await readFile(credsFile)),
    ...(prefix ? { inboxPrefix: prefix } : {}),
    ...(caFile ? { tls: { caFile } } : {}),
  });
}
