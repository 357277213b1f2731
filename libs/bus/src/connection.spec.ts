import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createConnection, createServer, type AddressInfo, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '@splitlet/telemetry';
import { startAuthNatsServer, startNatsServer, type AuthNatsServer, type NatsServer } from '@splitlet/testing';
import { connectBus } from './connection';
import { isBusAuthError, isBusCredentialsError, isBusTlsError } from './errors';

const openssl = (...args: string[]) => promisify(execFile)('openssl', args);
const logger = createLogger('test', { level: 'silent' });

/** A CA and a server certificate for 127.0.0.1 it signed, and a second CA that signed nothing. */
async function testPki(dir: string) {
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'];
  const p = (f: string) => join(dir, f);
  await openssl('req', '-x509', ...ec, '-keyout', p('ca.key'), '-out', p('ca.crt'), '-subj', '/CN=splitlet-test-ca', '-days', '1');
  await openssl('req', '-x509', ...ec, '-keyout', p('other.key'), '-out', p('other.crt'), '-subj', '/CN=another-ca', '-days', '1');
  await openssl('req', ...ec, '-keyout', p('server.key'), '-out', p('server.csr'), '-subj', '/CN=nats');
  await writeFile(p('ext'), 'subjectAltName=IP:127.0.0.1,DNS:localhost\n');
  await openssl('x509', '-req', '-in', p('server.csr'), '-CA', p('ca.crt'), '-CAkey', p('ca.key'), '-CAcreateserial', '-out', p('server.crt'), '-days', '1', '-extfile', p('ext'));
  return { ca: p('ca.crt'), other: p('other.crt'), cert: p('server.crt'), key: p('server.key') };
}

describe('connectBus', () => {
  let dir: string;
  let pki: Awaited<ReturnType<typeof testPki>>;
  let tlsServer: NatsServer;
  let plainServer: NatsServer;
  let authServer: AuthNatsServer;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'splitlet-bus-tls-'));
    pki = await testPki(dir);
    [tlsServer, plainServer, authServer] = await Promise.all([
      startNatsServer({ config: `tls { cert_file: "${pki.cert}", key_file: "${pki.key}" }\n` }),
      startNatsServer(),
      startAuthNatsServer(),
    ]);
  });
  afterAll(async () => {
    await Promise.all([tlsServer?.stop(), plainServer?.stop(), authServer?.stop()]);
    await rm(dir, { recursive: true, force: true });
  });

  it('connectBus - over TLS, verifies the server against the CA it is given', async () => {
    const nc = await connectBus({ servers: [tlsServer.url], name: 't', logger, caFile: pki.ca });
    await nc.flush();
    await nc.close();
  });

  it('connectBus - a server certificate the CA did not sign, or no CA at all, is refused at once with BusTlsError', async () => {
    for (const caFile of [pki.other, undefined]) {
      const err = await connectBus({ servers: [tlsServer.url], name: 't', logger, ...(caFile ? { caFile } : {}) }).catch((e: unknown) => e);
      expect(isBusTlsError(err)).toBe(true);
    }
  });

  it('connectBus - a CA given for a server without TLS is refused with BusTlsError', async () => {
    const err = await connectBus({ servers: [plainServer.url], name: 't', logger, caFile: pki.ca }).catch((e: unknown) => e);
    expect(isBusTlsError(err)).toBe(true);
  });

  it('connectBus - credentials that are not a .creds file are refused at once with BusCredentialsError, before connecting, naming no part of them', async () => {
    const creds = new TextEncoder().encode('-----BEGIN NATS USER JWT-----\nx\n------END NATS USER JWT------\n\n-----BEGIN USER NKEY SEED-----\nSUNOTASEED\n------END USER NKEY SEED------\n');
    const err = await connectBus({ servers: ['nats://127.0.0.1:1'], name: 't', logger, creds }).catch((e: unknown) => e);
    expect(isBusCredentialsError(err)).toBe(true);
    expect((err as Error).message).not.toContain('SUNOTASEED');
    const none = await connectBus({ servers: ['nats://127.0.0.1:1'], name: 't', logger, creds: new TextEncoder().encode('garbage') }).catch((e: unknown) => e);
    expect((none as Error).message).toMatch(/not a NATS user's \.creds file: unable to parse credentials/);
  });

  it('connectBus - no credentials for a bus that requires them is refused with BusAuthError', async () => {
    const err = await connectBus({ servers: [authServer.url], name: 't', logger }).catch((e: unknown) => e);
    expect(isBusAuthError(err) && !err.hadCredentials).toBe(true);
  });

  it('connectBus - a server that timed the connection out before it authenticated (a starved start) is connected to again, before and after connecting; not taken for a refusal', async () => {
    const server = await startAuthNatsServer({ authTimeoutSeconds: 0.3 });
    // While `late` > 0, a new connection's CONNECT reaches the server 1 s late, as from
    // a process starved of CPU: the server answers "Authentication Timeout" and hangs up.
    let late = 2;
    let connections = 0;
    const open = new Set<Socket>();
    const upstreamPort = Number(new URL(server.url).port);
    const proxy = createServer((client) => {
      connections++;
      const slow = late-- > 0;
      const upstream = createConnection({ host: '127.0.0.1', port: upstreamPort });
      for (const s of [client, upstream]) {
        open.add(s);
        s.on('close', () => open.delete(s));
      }
      upstream.pipe(client);
      client.on('error', () => upstream.destroy());
      upstream.on('error', () => client.destroy());
      client.on('close', () => upstream.destroy());
      client.on('data', (chunk: Buffer) => (slow ? setTimeout(() => upstream.writable && upstream.write(chunk), 1000) : upstream.write(chunk)));
    });
    await new Promise<void>((r) => proxy.listen(0, '127.0.0.1', r));
    try {
      const creds = await readFile(await server.credsFile('node-1', 'pod-sync'));
      const nc = await connectBus({ servers: [`nats://127.0.0.1:${(proxy.address() as AddressInfo).port}`], name: 't', logger, creds, inboxPrefix: '_INBOX.node-1.pod-sync' });
      await nc.flush();
      expect(connections).toBe(3);
      // The connection is lost; its next two attempts time out the same way.
      late = 2;
      const reconnected = (async () => {
        for await (const s of nc.status()) if (s.type === 'reconnect') return true;
        return false;
      })();
      for (const s of open) s.destroy();
      expect(await reconnected).toBe(true);
      await nc.flush();
      expect(connections).toBe(6);
      await nc.close();
    } finally {
      proxy.close();
      await server.stop();
    }
  });
});
