import { existsSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { inboxPrefix, nodeToken } from '@splitlet/bus';
import { credsPath, loadAuthority, mintNodeCreds, mintOperatorCreds, nodeCredsDir, OPERATOR_INBOX_PREFIX, writeSecret, type BusServiceName } from '@splitlet/bus-auth';
import { labEnv } from './lab';
import { labDir } from './paths';
import { connectWithCreds } from './nats-auth';

/**
 * The lab's bus keys (LAB_NATS_AUTH_DIR, else <lab>/nats-auth): present when the lab's
 * NATS runs with auth on (`lab.sh up` makes them), absent on a lab from before.
 */
export function labBusAuthDir(): string | undefined {
  const dir = process.env['LAB_NATS_AUTH_DIR'] ?? join(labDir(), 'nats-auth');
  return existsSync(join(dir, 'account.nk')) ? dir : undefined;
}

const minted = new Map<string, Promise<unknown>>();

/**
 * The .creds file of one service of a test node, minted (once per node and process)
 * with the lab's account key; undefined when the lab's bus has no auth.
 */
export async function labCredsFile(nodeName: string, service: BusServiceName): Promise<string | undefined> {
  const state = labBusAuthDir();
  if (!state) return undefined;
  const dir = nodeCredsDir(state, nodeName);
  if (!minted.has(nodeName)) minted.set(nodeName, loadAuthority(state).then((a) => mintNodeCreds(a, nodeName, dir)));
  await minted.get(nodeName);
  return credsPath(dir, service);
}

/**
 * Removes a test node's .creds files (`<keys>/creds/<node>/`), once the test is done
 * with the node: only the files — nothing is revoked, the identities stay valid as
 * minted — so the lab's state dir does not fill with a folder per test node. Never the
 * lab's own node's (node.sh runs it with those; LAB_NODE_NAME, else the host's name).
 * The node's creds are minted again if it is started again.
 */
export async function removeLabNodeCreds(nodeName: string): Promise<void> {
  minted.delete(nodeName);
  const state = labBusAuthDir();
  if (!state || !nodeName) return;
  const own = [labEnv().nodeName, hostname().toLowerCase()].map(nodeToken);
  if (own.includes(nodeToken(nodeName))) return;
  await rm(nodeCredsDir(state, nodeName), { recursive: true, force: true });
}

/** What one service of a test node needs to join the lab's NATS: NATS_URL, its own SPLITLET_NATS_CREDS, the CA. */
export async function labBusEnv(nodeName: string, service: BusServiceName): Promise<Record<string, string>> {
  const creds = await labCredsFile(nodeName, service);
  const lab = labEnv();
  return { NATS_URL: lab.natsUrl, ...(creds ? { SPLITLET_NATS_CREDS: creds } : {}), ...(lab.natsCa ? { SPLITLET_NATS_CA: lab.natsCa } : {}) };
}

const tlsOf = (ca: string | undefined) => (ca ? { tls: { caFile: ca } } : {});

/**
 * A test's connection to the lab's NATS in the place of one service of a node (e.g.
 * pod-sync, to call runtime-executor or hand status-reporter a status): that
 * service's identity and rights, its inbox prefix.
 */
export async function connectToLabBus(nodeName: string, as: BusServiceName, servers: string | string[] = labEnv().natsUrl): Promise<NatsConnection> {
  const creds = await labCredsFile(nodeName, as);
  const ca = labEnv().natsCa;
  return creds ? connectWithCreds(servers, creds, inboxPrefix(nodeName, as), ca) : connect({ servers, ...tlsOf(ca) });
}

/** The lab's operator .creds file (every subject of the account), minted once; undefined when the lab's bus has no auth. */
export async function labOperatorCredsFile(): Promise<string | undefined> {
  const state = labBusAuthDir();
  if (!state) return undefined;
  const file = join(state, 'operator.creds');
  if (!existsSync(file)) await writeSecret(file, await mintOperatorCreds(await loadAuthority(state)));
  return file;
}

/** A connection to the lab's NATS as an operator's tool (every subject; replies into _INBOX_OPERATOR). */
export async function connectToLabBusAsOperator(servers: string | string[] = labEnv().natsUrl, name = 'splitlet-test-operator'): Promise<NatsConnection> {
  const file = await labOperatorCredsFile();
  const ca = labEnv().natsCa;
  if (!file) return connect({ servers, name, ...tlsOf(ca) });
  return connectWithCreds(servers, file, OPERATOR_INBOX_PREFIX, ca);
}
