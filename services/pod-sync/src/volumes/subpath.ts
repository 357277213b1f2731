import { chmodSync, closeSync, constants, fstatSync, mkdirSync, openSync, realpathSync, statSync, writeFileSync } from 'node:fs';
import { isAbsolute, join, relative } from 'node:path';
import type { Mounter } from './mounter';

/** O_PATH (Linux, the same value on x86-64 and arm64): an fd naming a file without opening it (sockets, FIFOs, devices too). */
const O_PATH = 0o10000000;
const O_NOFOLLOW = constants.O_NOFOLLOW;
const O_CLOEXEC = 0o2000000;

/** Whether path is base or below it (both already free of symlinks). */
export const withinBase = (path: string, base: string): boolean => {
  const rel = relative(base, path);
  // Not startsWith('..'): the atomic writer's own names (..data, ..<time>) are inside.
  return rel === '' || (rel !== '..' && !rel.startsWith('../') && !isAbsolute(rel));
};

/**
 * Opens base/rel one element at a time, each relative to the fd of its parent and
 * never following a symlink (the kubelet's doSafeOpen: openat with O_NOFOLLOW). A
 * symlink swapped into the path after it was checked makes the open fail instead of
 * leading out of the volume. Node has no openat: `/proc/self/fd/<parent>/<name>`
 * is the same lookup (the kernel resolves the fd link to that very directory).
 * Returns an O_PATH fd for the caller to close.
 */
export function openWithin(base: string, rel: string): number {
  let fd = openSync(base, O_PATH | O_NOFOLLOW | O_CLOEXEC);
  try {
    if (fstatSync(fd).isSymbolicLink()) throw new Error(`${base} is a symlink`);
    for (const seg of rel.split('/').filter((s) => s && s !== '.')) {
      if (seg === '..') throw new Error(`path ${rel} contains '..'`);
      const child = openSync(`/proc/self/fd/${fd}/${seg}`, O_PATH | O_NOFOLLOW | O_CLOEXEC);
      closeSync(fd);
      fd = child;
      if (fstatSync(fd).isSymbolicLink()) throw new Error(`${join(base, rel)} contains a symlink at ${seg}`);
    }
    return fd;
  } catch (err) {
    closeSync(fd);
    throw err;
  }
}

/**
 * Creates base/rel as directories, each element made and then opened without
 * following symlinks (the kubelet's SafeMakeDir), so a swapped-in symlink cannot
 * make pod-sync create directories outside the volume. Each directory it creates gets
 * `mode` exactly — permission, setgid, setuid and sticky bits — whatever the umask
 * (doSafeMakeDir's fchmod after mkdirat); those that exist are left as they are.
 */
export function safeMakeDir(base: string, rel: string, mode: number): void {
  const segs = rel.split('/').filter((s) => s && s !== '.');
  let fd = openSync(base, O_PATH | O_NOFOLLOW | O_CLOEXEC);
  try {
    for (const seg of segs) {
      if (seg === '..') throw new Error(`path ${rel} contains '..'`);
      let created = true;
      try {
        mkdirSync(`/proc/self/fd/${fd}/${seg}`, { mode });
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
        created = false;
      }
      const child = openSync(`/proc/self/fd/${fd}/${seg}`, O_PATH | O_NOFOLLOW | O_CLOEXEC | constants.O_DIRECTORY);
      closeSync(fd);
      fd = child;
      // fchmod refuses an O_PATH fd; chmod of its /proc link reaches the very directory opened.
      if (created) chmodSync(`/proc/self/fd/${fd}`, mode);
    }
  } finally {
    closeSync(fd);
  }
}

/**
 * The subPath checks before a bind (kubelet_pods.go makeMounts, subpath_linux.go
 * doBindSubPath): relative, without `..`; created as a directory when missing; its
 * symlinks resolved once and the result required to lie inside the volume; then
 * opened safely and bound from the fd, so what is mounted is what was checked.
 * The bind lands at target (pods/<uid>/volume-subpaths/<volume>/<container>/<index>);
 * an existing bind there is kept (a restarted container gets the same one).
 */
export async function bindSubPath(mounter: Mounter, volumePath: string, subPath: string, target: string): Promise<void> {
  if (isAbsolute(subPath)) throw new Error(`error SubPath \`${subPath}\` must not be an absolute path`);
  if (subPath.split('/').includes('..')) throw new Error(`unable to provision SubPath \`${subPath}\`: must not contain '..'`);
  if (mounter.mountPointsUnder(target).includes(target)) return;
  const base = realpathSync(volumePath);
  let full: string;
  try {
    full = realpathSync(join(base, subPath));
  } catch {
    safeMakeDir(base, subPath, statSync(base).mode & 0o7777);
    full = realpathSync(join(base, subPath));
  }
  if (!withinBase(full, base)) throw new Error(`path ${full} is not within ${base}`);
  const fd = openWithin(base, relative(base, full));
  try {
    const isDir = fstatSync(fd).isDirectory();
    mkdirSync(isDir ? target : join(target, '..'), { recursive: true, mode: 0o750 });
    if (!isDir) writeFileSync(target, '', { flag: 'a', mode: 0o640 });
    await mounter.bind(`/proc/${process.pid}/fd/${fd}`, target);
  } finally {
    closeSync(fd);
  }
}
