import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';

/** The repository's root: the nearest folder upwards holding nx.json. */
export function workspaceRoot(from = process.cwd()): string {
  for (let dir = from; ; dir = dirname(dir)) {
    if (existsSync(join(dir, 'nx.json'))) return dir;
    if (dirname(dir) === dir) throw new Error(`no nx.json above ${from}`);
  }
}

/** The lab's state folder (LAB_DIR, default <root>/.lab). */
export const labDir = (): string => process.env['LAB_DIR'] ?? join(workspaceRoot(), '.lab');

/** A binary the lab provides in .lab/bin (run `npm run lab:up` or test/lab/build.sh first). */
export function labBinary(name: string): string {
  const path = join(labDir(), 'bin', name);
  if (!existsSync(path)) throw new Error(`${path} is missing: run \`npm run lab:up\` (it builds the lab's binaries)`);
  return path;
}
