import { execFile } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

/**
 * Removes what a test node's pod-sync left of its pods' volumes (the tmpfs of every
 * service-account volume, for one) when the node stopped before its pods were gone:
 * each of its pod directories (named by their `node-name` file) unmounted, deepest
 * mount first, then deleted — never while something below is still mounted.
 */
export async function cleanupNodeVolumes(nodeName: string, dataDir = '/var/lib/splitlet'): Promise<void> {
  const pods = join(dataDir, 'pods');
  if (!existsSync(pods)) return;
  const mounts = () =>
    readFileSync('/proc/self/mountinfo', 'utf8')
      .split('\n')
      .map((l) => (l.split(' ')[4] ?? '').replace(/\\([0-7]{3})/g, (_m, o: string) => String.fromCharCode(parseInt(o, 8))))
      .filter(Boolean);
  for (const uid of readdirSync(pods)) {
    const dir = join(pods, uid);
    let owner = '';
    try {
      owner = readFileSync(join(dir, 'node-name'), 'utf8');
    } catch {
      continue;
    }
    if (owner !== nodeName) continue;
    const below = () => mounts().filter((m) => m.startsWith(`${dir}/`)).sort((a, b) => b.length - a.length);
    for (const m of below()) await run('umount', [m]).catch(() => undefined);
    if (!below().length) rmSync(dir, { recursive: true, force: true });
  }
}
