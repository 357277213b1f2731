import { mkdtemp, readFile, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { createLogger } from '@splitlet/telemetry';
import { testCA } from '../__fixtures__/pki';
import { CURRENT_FILE, keptServingCert, loadStoredCert, storeCert } from './cert-store';
import type { ServingCert } from './serving-cert';

const logger = createLogger('node-api', { level: 'silent' });
const never = new AbortController().signal;

async function servingCert(node: string): Promise<ServingCert> {
  const ca = await testCA();
  const { cert, key } = await ca.issue(`O=system:nodes, CN=system:node:${node}`, 'server', '127.0.0.1');
  return { cert, key, notBefore: Date.now() - 60_000, notAfter: Date.now() + 86_400_000 };
}

describe('serving certificate store', () => {
  it('storeCert / loadStoredCert - keeps certificate and key in one 0600 file and reads them back for the same node', async () => {
    const dir = join(await mkdtemp(join(tmpdir(), 'node-api-pki-')), 'pki');
    const cert = await servingCert('n1');
    await storeCert(dir, cert);
    expect((await stat(join(dir, CURRENT_FILE))).mode & 0o777).toBe(0o600);
    const back = await loadStoredCert(dir, 'n1', Date.now());
    expect(back?.cert.trim()).toBe(cert.cert.trim());
    expect(back?.key.trim()).toBe(cert.key.trim());
    expect(back!.notAfter).toBeGreaterThan(Date.now());
  });

  it('loadStoredCert - nothing kept, another node\'s, an expired one or a mismatched key: undefined', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'node-api-pki-'));
    expect(await loadStoredCert(dir, 'n1', Date.now())).toBeUndefined();
    const cert = await servingCert('n1');
    await storeCert(dir, cert);
    expect(await loadStoredCert(dir, 'n2', Date.now())).toBeUndefined();
    expect(await loadStoredCert(dir, 'n1', Date.now() + 2 * 86_400_000)).toBeUndefined();
    await writeFile(join(dir, CURRENT_FILE), `${cert.cert}${(await servingCert('n1')).key}`);
    expect(await loadStoredCert(dir, 'n1', Date.now())).toBeUndefined();
    await writeFile(join(dir, CURRENT_FILE), 'garbage');
    expect(await loadStoredCert(dir, 'n1', Date.now())).toBeUndefined();
  });

  it('keptServingCert - a first start asks and keeps; a restart serves the kept one without asking; a renewal asks again', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'node-api-pki-'));
    let asked = 0;
    const request = async () => {
      asked++;
      return servingCert('n1');
    };
    const opts = { dir, nodeName: 'n1', now: () => Date.now(), logger };
    const first = keptServingCert(opts, request);
    const issued = await first(never);
    expect(asked).toBe(1);
    expect(await readFile(join(dir, CURRENT_FILE), 'utf8')).toContain(issued.cert.trim());
    const restarted = keptServingCert(opts, request);
    expect((await restarted(never)).cert.trim()).toBe(issued.cert.trim());
    expect(asked).toBe(1);
    const renewed = await restarted(never);
    expect(asked).toBe(2);
    expect(renewed.cert).not.toBe(issued.cert);
    expect(await readFile(join(dir, CURRENT_FILE), 'utf8')).toContain(renewed.cert.trim());
  });
});
