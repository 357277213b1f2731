import { webcrypto } from 'node:crypto';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import * as x509 from '@peculiar/x509';
import { CoreV1Api } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PooledKubeConfig } from './client';

x509.cryptoProvider.set(webcrypto as never);

/** A self-signed certificate for 127.0.0.1 and its key, PEM. */
async function selfSigned(): Promise<{ cert: string; key: string }> {
  const alg = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' };
  const keys = await webcrypto.subtle.generateKey(alg, true, ['sign', 'verify']);
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: '01',
    name: 'CN=127.0.0.1',
    notBefore: new Date(Date.now() - 60_000),
    notAfter: new Date(Date.now() + 3_600_000),
    keys: keys as never,
    signingAlgorithm: alg,
    extensions: [new x509.SubjectAlternativeNameExtension([{ type: 'ip', value: '127.0.0.1' }])],
  });
  const der = Buffer.from(await webcrypto.subtle.exportKey('pkcs8', keys.privateKey));
  return { cert: cert.toString('pem'), key: `-----BEGIN PRIVATE KEY-----\n${der.toString('base64').replace(/(.{64})/g, '$1\n')}\n-----END PRIVATE KEY-----\n` };
}

describe('PooledKubeConfig', () => {
  let server: Server;
  let tlsConnections = 0;
  let pem: { cert: string; key: string };

  beforeAll(async () => {
    pem = await selfSigned();
    server = createServer({ cert: pem.cert, key: pem.key }, (req, res) => {
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p', namespace: 'ns' } }));
    });
    server.on('secureConnection', () => tlsConnections++);
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  });
  afterAll(async () => {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  });

  it('PooledKubeConfig - one pool of TLS connections serves every API call (client-node alone makes a handshake per call)', async () => {
    const kc = new PooledKubeConfig();
    kc.loadFromOptions({
      clusters: [{ name: 'c', server: `https://127.0.0.1:${(server.address() as AddressInfo).port}`, caData: Buffer.from(pem.cert).toString('base64'), skipTLSVerify: false }],
      users: [{ name: 'u', token: 't' }],
      contexts: [{ name: 'x', cluster: 'c', user: 'u' }],
      currentContext: 'x',
    });
    const core = kc.makeApiClient(CoreV1Api);
    tlsConnections = 0;
    const read = async () => expect((await core.readNamespacedPod({ name: 'p', namespace: 'ns' })).metadata?.name).toBe('p');
    // (A connection goes back to the pool a moment after its response: the call right
    // after another may open a second one. client-node alone: one per call, 20.)
    for (let i = 0; i < 20; i++) await read();
    expect(tlsConnections).toBeGreaterThanOrEqual(1);
    expect(tlsConnections).toBeLessThanOrEqual(2);
  });
});
