import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { createUser, encodeUser, fmtCreds } from '@nats-io/jwt';
import { nodeToken } from '@splitlet/bus';
import { writeSecret, type BusAuthority } from './authority';
import { permissionsFor, SERVICE_NAMES, type BusServiceName } from './permissions';

/** The user name of one service of one node, as the server shows it. */
export const identityName = (nodeName: string, service: BusServiceName): string => `${nodeName}/${service}`;

/**
 * A .creds file (user JWT + seed) for one service of one node, with that service's
 * row of the permission table written into the JWT. A fresh user key each time: minting
 * again rotates the identity, and the old file keeps working until it is revoked.
 */
export async function mintServiceCreds(a: BusAuthority, nodeName: string, service: BusServiceName): Promise<Uint8Array> {
  const user = createUser();
  const p = permissionsFor(nodeName, service);
  const jwt = await encodeUser(identityName(nodeName, service), user, a.account, {
    pub: { allow: p.pub },
    sub: { allow: p.sub },
  });
  return fmtCreds(jwt, user);
}

/** Where mintNodeCreds puts a service's file: `<dir>/<service>.creds`. */
export const credsPath = (dir: string, service: BusServiceName): string => join(dir, `${service}.creds`);

/** Mints every service's (or the given services') creds of a node into dir, each 0600; returns the paths. */
export async function mintNodeCreds(
  a: BusAuthority,
  nodeName: string,
  dir: string,
  services: readonly BusServiceName[] = SERVICE_NAMES,
): Promise<Record<BusServiceName, string>> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const out = {} as Record<BusServiceName, string>;
  for (const s of services) {
    out[s] = credsPath(dir, s);
    await writeSecret(out[s], await mintServiceCreds(a, nodeName, s));
  }
  return out;
}

/** The default folder for a node's creds under a state dir: `<state>/creds/<node token>`. */
export const nodeCredsDir = (stateDir: string, nodeName: string): string => join(stateDir, 'creds', nodeToken(nodeName));

/**
 * A .creds file for an operator's tools (the `nats` CLI, the benchmarks): every subject
 * of the account, every node. As powerful as the account key for the bus, so it is
 * kept as that key is; tools use the inbox prefix the services answer into:
 * `nats --creds F --inbox-prefix _INBOX_OPERATOR micro ls`.
 */
export async function mintOperatorCreds(a: BusAuthority, name = 'operator'): Promise<Uint8Array> {
  const user = createUser();
  const jwt = await encodeUser(name, user, a.account, { pub: { allow: ['>'] }, sub: { allow: ['>'] } });
  return fmtCreds(jwt, user);
}

