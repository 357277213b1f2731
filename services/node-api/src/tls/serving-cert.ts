import { X509Certificate, webcrypto } from 'node:crypto';
import { CertificatesV1Api, CoreV1Api, type KubeConfig } from '@kubernetes/client-node';
import type { Clock } from '@splitlet/service';
import type { Logger } from '@splitlet/telemetry';
import type * as X509 from '@peculiar/x509';

/** A serving certificate (PEM) and its key (PKCS#8 PEM). */
export interface ServingCert {
  cert: string;
  key: string;
  /** Unix ms. */
  notBefore: number;
  notAfter: number;
}

export const KUBELET_SERVING_SIGNER = 'kubernetes.io/kubelet-serving';
/** How often the CSR and the Node's addresses are looked at while waiting. */
const POLL_MS = 1_000;

/**
 * @peculiar/x509, loaded when a CSR is made (a new node, or a renewal at 70–90 % of the
 * certificate's life): its ASN.1 schemas take ~23 ms of a start that keeps its
 * certificate (issue 17, cold start).
 */
async function x509Module(): Promise<typeof X509> {
  const x509 = await import('@peculiar/x509');
  // node:crypto's WebCrypto is the standard Crypto; the DOM typings only differ in name.
  x509.cryptoProvider.set(webcrypto as never);
  return x509;
}

/**
 * The kubelet's serving certificate manager (serverTLSBootstrap): an EC P-256 key and
 * a CSR for system:node:<name> in system:nodes, signer kubernetes.io/kubelet-serving,
 * usages digital signature and server auth, with the node's addresses from its Node
 * status as SANs (host names as DNS names, IPs as IPs). Something must approve the
 * CSR (an admin, or an approver controller); this waits until it is issued.
 */
export async function requestServingCert(kc: KubeConfig, nodeName: string, clock: Clock, logger: Logger, signal: AbortSignal): Promise<ServingCert> {
  const { dnsNames, ips } = await nodeAddresses(kc, nodeName, clock, logger, signal);
  const keys = await webcrypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, true, ['sign', 'verify']);
  const x509 = await x509Module();
  const csr = await x509.Pkcs10CertificateRequestGenerator.create({
    name: `O=system:nodes, CN=system:node:${nodeName}`,
    keys: keys as Parameters<typeof X509.Pkcs10CertificateRequestGenerator.create>[0]["keys"],
    signingAlgorithm: { name: 'ECDSA', hash: 'SHA-256' },
    extensions: [
      new x509.SubjectAlternativeNameExtension([...dnsNames.map((value) => ({ type: 'dns' as const, value })), ...ips.map((value) => ({ type: 'ip' as const, value }))]),
    ],
  });
  const api = kc.makeApiClient(CertificatesV1Api);
  const created = await api.createCertificateSigningRequest({
    body: {
      apiVersion: 'certificates.k8s.io/v1',
      kind: 'CertificateSigningRequest',
      metadata: { generateName: 'csr-' },
      spec: { request: Buffer.from(csr.toString('pem')).toString('base64'), signerName: KUBELET_SERVING_SIGNER, usages: ['digital signature', 'server auth'] },
    },
  });
  const name = created.metadata!.name!;
  logger.info({ csr: name, dnsNames, ips }, 'serving certificate requested; waiting for approval');
  for (;;) {
    const got = await api.readCertificateSigningRequest({ name });
    const denied = got.status?.conditions?.find((c) => (c.type === 'Denied' || c.type === 'Failed') && c.status === 'True');
    if (denied) throw new Error(`serving CSR ${name} ${denied.type.toLowerCase()}: ${denied.reason ?? ''} ${denied.message ?? ''}`.trim());
    if (got.status?.certificate) {
      const cert = Buffer.from(got.status.certificate, 'base64').toString();
      const pkcs8 = Buffer.from(await webcrypto.subtle.exportKey('pkcs8', keys.privateKey)).toString('base64');
      const key = `-----BEGIN PRIVATE KEY-----\n${pkcs8.match(/.{1,64}/g)!.join('\n')}\n-----END PRIVATE KEY-----\n`;
      const leaf = new X509Certificate(cert);
      logger.info({ csr: name, notAfter: leaf.validTo }, 'serving certificate issued');
      return { cert, key, notBefore: Date.parse(leaf.validFrom), notAfter: Date.parse(leaf.validTo) };
    }
    await clock.sleep(POLL_MS, signal);
  }
}

/**
 * When to ask for the next certificate: the kubelet's certificate manager picks a
 * random point between 70 % and 90 % of the certificate's lifetime.
 */
export function renewalAt(cert: ServingCert, random: () => number): number {
  const life = cert.notAfter - cert.notBefore;
  return cert.notBefore + life * (0.7 + 0.2 * random());
}

/** The Node's addresses as registrar reported them; waits until it has some. */
async function nodeAddresses(kc: KubeConfig, nodeName: string, clock: Clock, logger: Logger, signal: AbortSignal): Promise<{ dnsNames: string[]; ips: string[] }> {
  const core = kc.makeApiClient(CoreV1Api);
  for (let attempt = 0; ; attempt++) {
    const node = await core.readNode({ name: nodeName }).catch(() => undefined);
    const addresses = node?.status?.addresses ?? [];
    if (addresses.length) {
      const dnsNames = unique(addresses.filter((a) => a.type === 'Hostname' || a.type === 'InternalDNS' || a.type === 'ExternalDNS').map((a) => a.address));
      const ips = unique(addresses.filter((a) => a.type === 'InternalIP' || a.type === 'ExternalIP').map((a) => a.address));
      return { dnsNames, ips };
    }
    if (attempt % 10 === 0) logger.info({ node: nodeName }, 'waiting for the Node and its addresses before asking for a serving certificate');
    await clock.sleep(POLL_MS, signal);
  }
}

const unique = (xs: string[]) => [...new Set(xs)];
