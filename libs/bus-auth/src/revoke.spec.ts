import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readFile } from 'node:fs/promises';
import { parseCreds } from '@nats-io/jwt';
import { errors } from '@nats-io/transport-node';
import { connectWithCreds, startAuthNatsServer, type AuthNatsServer } from '@splitlet/testing';
import { revokeUser, serverAuthConfig } from './authority';

describe('revoking an identity', () => {
  let server: AuthNatsServer;
  beforeAll(async () => {
    server = await startAuthNatsServer();
  });
  afterAll(async () => {
    await server?.stop();
  });

  it('revokeUser - after a reload the revoked identity is disconnected and refused; the node\'s others stay', async () => {
    const prober = await server.connectAs('node-a', 'prober');
    const podSync = await server.connectAs('node-a', 'pod-sync');
    const file = await server.credsFile('node-a', 'prober');
    const { uc } = await parseCreds(await readFile(file));

    await revokeUser(server.authority, uc.sub);
    await server.reload(await serverAuthConfig(server.authority));

    expect(await prober.closed()).toBeInstanceOf(Error);
    await expect(connectWithCreds(server.url, file)).rejects.toBeInstanceOf(errors.AuthorizationError);
    expect(podSync.isClosed()).toBe(false);
    await podSync.flush();
    await podSync.close();
  });
});
