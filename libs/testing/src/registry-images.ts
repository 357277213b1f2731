import { createCipheriv, createHash } from 'node:crypto';
import { mkdir, mkdtemp, rm, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { V1Secret } from '@kubernetes/client-node';
import { labEnv, runCommand } from './lab';

/** The lab registry's credentials as a `kubernetes.io/dockerconfigjson` Secret (a pod's imagePullSecrets). */
export function labRegistrySecret(name: string): V1Secret {
  const lab = labEnv();
  const auth = Buffer.from(`${lab.registryUser}:${lab.registryPassword}`).toString('base64');
  return { metadata: { name }, type: 'kubernetes.io/dockerconfigjson', stringData: { '.dockerconfigjson': JSON.stringify({ auths: { [`http://${lab.registry}`]: { auth } } }) } };
}

/**
 * Builds `ref` on the lab's engine — the test box with `mib` MiB of incompressible bytes
 * at /blob — pushes it to the lab's registry, and removes it from the engine again. The
 * bytes and their file time come from `seed` alone, so every run pushes the same layer
 * and the registry stores it once.
 */
export async function pushBlobImage(ref: string, opts: { mib: number; seed: string }): Promise<void> {
  const lab = labEnv();
  const ctx = await mkdtemp(join(tmpdir(), 'splitlet-blob-image-'));
  try {
    const config = join(ctx, 'config');
    const build = join(ctx, 'build');
    await Promise.all([mkdir(config), mkdir(build)]);
    const auth = Buffer.from(`${lab.registryUser}:${lab.registryPassword}`).toString('base64');
    await writeFile(join(config, 'config.json'), JSON.stringify({ auths: { [lab.registry]: { auth } } }));
    const key = createHash('sha256').update(`splitlet blob image ${opts.seed}`).digest();
    await writeFile(join(build, 'blob'), createCipheriv('aes-256-ctr', key, Buffer.alloc(16)).update(Buffer.alloc(opts.mib * 2 ** 20)));
    const fixed = new Date('2026-01-01T00:00:00Z');
    await utimes(join(build, 'blob'), fixed, fixed);
    await writeFile(join(build, 'Dockerfile'), 'FROM splitlet-lab/testbox:1\nCOPY blob /blob\n');
    for (const args of [['build', '-q', '-t', ref, build], ['--config', config, 'push', '-q', ref], ['rmi', ref]]) {
      const r = await runCommand('docker', args);
      if (r.code !== 0) throw new Error(`docker ${args[0]} ${ref}: ${r.stderr}`);
    }
  } finally {
    await rm(ctx, { recursive: true, force: true });
  }
}
