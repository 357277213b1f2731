import { lstat, readdir } from 'node:fs/promises';
import { join } from 'node:path';

/**
 * `du -s -B1` and `du -s --inodes` of a tree at once: the blocks its files and
 * directories hold and the inodes they take (hard links once), not following symlinks
 * nor other filesystems' mounts below it. undefined when the tree is absent.
 */
export async function treeUsage(dir: string): Promise<{ bytes: bigint; inodes: bigint } | undefined> {
  const lstatBig = (p: string) => lstat(p, { bigint: true });
  let top;
  try {
    top = await lstatBig(dir);
  } catch {
    return undefined;
  }
  const seen = new Set<bigint>();
  let bytes = 0n;
  let inodes = 0n;
  const walk = async (path: string, st: Awaited<ReturnType<typeof lstatBig>>): Promise<void> => {
    if (st.dev !== top.dev) return;
    if (st.nlink > 1n && !st.isDirectory()) {
      if (seen.has(st.ino)) return;
      seen.add(st.ino);
    }
    bytes += st.blocks * 512n;
    inodes += 1n;
    if (!st.isDirectory()) return;
    const names = await readdir(path).catch(() => [] as string[]);
    for (const name of names) {
      const child = join(path, name);
      const cst = await lstatBig(child).catch(() => undefined);
      if (cst) await walk(child, cst);
    }
  };
  await walk(dir, top);
  return { bytes, inodes };
}
