import { webcrypto } from 'node:crypto';
import * as x509 from '@peculiar/x509';

x509.cryptoProvider.set(webcrypto as never);
const alg = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' };
type Keys = Parameters<typeof x509.X509CertificateGenerator.createSelfSigned>[0]['keys'];

export interface Issued {
  cert: string;
  key: string;
}

const pem = async (k: webcrypto.CryptoKey) => {
  const b64 = Buffer.from(await webcrypto.subtle.exportKey('pkcs8', k as never)).toString('base64');
  return `-----BEGIN PRIVATE KEY-----\n${b64.match(/.{1,64}/g)!.join('\n')}\n-----END PRIVATE KEY-----\n`;
};

/** A throw-away CA that issues server and client certificates, for TLS tests. */
export async function testCA(name = 'test-ca') {
  const caKeys = (await webcrypto.subtle.generateKey(alg, true, ['sign', 'verify'])) as unknown as Keys;
  const ca = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: '01',
    name: `CN=${name}`,
    notBefore: new Date(Date.now() - 60_000),
    notAfter: new Date(Date.now() + 86_400_000),
    keys: caKeys,
    signingAlgorithm: alg,
    extensions: [new x509.BasicConstraintsExtension(true, undefined, true), new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign, true)],
  });
  const issue = async (subject: string, usage: 'server' | 'client', san?: string): Promise<Issued> => {
    const keys = (await webcrypto.subtle.generateKey(alg, true, ['sign', 'verify'])) as unknown as Keys;
    const cert = await x509.X509CertificateGenerator.create({
      serialNumber: Date.now().toString(16),
      subject,
      issuer: ca.subject,
      notBefore: new Date(Date.now() - 60_000),
      notAfter: new Date(Date.now() + 86_400_000),
      publicKey: keys.publicKey,
      signingKey: caKeys.privateKey,
      signingAlgorithm: alg,
      extensions: [
        new x509.ExtendedKeyUsageExtension([usage === 'server' ? x509.ExtendedKeyUsage.serverAuth : x509.ExtendedKeyUsage.clientAuth]),
        ...(san ? [new x509.SubjectAlternativeNameExtension([{ type: 'ip', value: san }])] : []),
      ],
    });
    return { cert: cert.toString('pem'), key: await pem(keys.privateKey as unknown as webcrypto.CryptoKey) };
  };
  return { cert: ca.toString('pem'), issue };
}
