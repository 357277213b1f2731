import { createPrivateKey, X509Certificate } from 'node:crypto';
import { chmod, mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from '@splitlet/telemetry';
import type { ServingCert } from './serving-cert';

/** The kubelet's name for the serving certificate in use, in its --cert-dir: certificate and key in one PEM. */
export const CURRENT_FILE = 'kubelet-server-current.pem';

/**
 * The serving certificate kept in `dir` by an earlier start, when it is this node's
 * (subject system:node:<name>), its key matches and it has not expired; else
 * undefined (nothing kept, or unusable: a new CSR is the answer, not a failure).
 */
export async function loadStoredCert(dir: string, nodeName: string, now: number): Promise<ServingCert | undefined> {
  let pem: string;
  try {
    pem = await readFile(join(dir, CURRENT_FILE), 'utf8');
  } catch {
    return undefined;
  }
  const cert = pem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----\n?/g)?.join('');
  const key = pem.match(/-----BEGIN (?:EC |)PRIVATE KEY-----[\s\S]+?-----END (?:EC |)PRIVATE KEY-----\n?/)?.[0];
  if (!cert || !key) return undefined;
  try {
    const leaf = new X509Certificate(cert);
    if (!leaf.checkPrivateKey(createPrivateKey(key))) return undefined;
    if (!leaf.subject.split('\n').includes(`CN=system:node:${nodeName}`)) return undefined;
    const notBefore = Date.parse(leaf.validFrom);
    const notAfter = Date.parse(leaf.validTo);
    if (!(notAfter > now)) return undefined;
    return { cert, key, notBefore, notAfter };
  } catch {
    return undefined;
  }
}

/** Keeps `cert` in `dir` for the next start: one file, 0600, replaced whole (written aside, renamed). */
export async function storeCert(dir: string, cert: ServingCert): Promise<void> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const path = join(dir, CURRENT_FILE);
  const tmp = `${path}.${process.pid}.${Date.now()}.tmp`;
  await writeFile(tmp, `${cert.cert.trimEnd()}\n${cert.key.trimEnd()}\n`, { mode: 0o600 });
  await chmod(tmp, 0o600);
  await rename(tmp, path);
}

/**
 * A certificate source that keeps what it obtains in `dir` (the kubelet's --cert-dir):
 * the first call serves the certificate an earlier start kept, while it is valid; every
 * other call (a renewal) asks `request` and keeps the answer. A restarted node-api so
 * serves at once, without a CSR that someone has to approve again.
 */
export function keptServingCert(
  opts: { dir: string; nodeName: string; now: () => number; logger: Logger },
  request: (signal: AbortSignal) => Promise<ServingCert>,
): (signal: AbortSignal) => Promise<ServingCert> {
  let first = true;
  return async (signal) => {
    if (first) {
      first = false;
      const kept = await loadStoredCert(opts.dir, opts.nodeName, opts.now());
      if (kept) {
        opts.logger.info({ dir: opts.dir, notAfter: new Date(kept.notAfter).toISOString() }, 'serving certificate kept from an earlier start');
        return kept;
      }
    }
    const cert = await request(signal);
    try {
      await storeCert(opts.dir, cert);
    } catch (err) {
      // It serves all the same; only the next start will ask again.
      opts.logger.warn({ dir: opts.dir, err: (err as Error).message }, 'cannot keep the serving certificate');
    }
    return cert;
  };
}
