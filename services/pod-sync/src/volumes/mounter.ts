import { closeSync, openSync, readFileSync, rmSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { CommandShell } from './command-shell';

/**
 * The mounts pod-sync makes on the host: tmpfs for memory-backed volumes and
 * secrets, binds for subPaths. The util-linux tools do it (Node has no mount(2)),
 * run through one long-lived shell (CommandShell: no fork of pod-sync per mount);
 * pod-sync runs as root with CAP_SYS_ADMIN in the host's mount namespace, or with
 * a shared-propagation bind of its data dir (docker-compose.yml).
 */
export interface Mounter {
  /** A tmpfs at dir (mode 0755 for the volume's root), of size bytes when given. */
  mountTmpfs(dir: string, sizeBytes?: bigint): Promise<void>;
  /** Binds source (which may be a /proc/<pid>/fd/<n> link: not resolved again) at target. */
  bind(source: string, target: string): Promise<void>;
  unmount(target: string): Promise<void>;
  /** Mount points at or below dir, deepest first. */
  mountPointsUnder(dir: string): string[];
  /** Makes dir a mount point with shared propagation (the kubelet does this to its root dir). */
  makeRShared(dir: string): Promise<void>;
}

/**
 * Runs fn holding a lock file (created exclusively; one left by a process that died
 * is taken over after 30 s). Across processes, unlike an in-memory lock.
 */
export async function withLockFile<T>(path: string, fn: () => Promise<T>): Promise<T> {
  for (const start = Date.now(); ; ) {
    try {
      closeSync(openSync(path, 'wx'));
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      const age = Date.now() - (statSync(path, { throwIfNoEntry: false })?.mtimeMs ?? Date.now());
      if (age > 30_000 || Date.now() - start > 60_000) rmSync(path, { force: true });
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  try {
    return await fn();
  } finally {
    rmSync(path, { force: true });
  }
}

/** /proc/self/mountinfo escapes space, tab, newline and backslash in octal. */
const unescape = (s: string) => s.replace(/\\([0-7]{3})/g, (_m, o: string) => String.fromCharCode(parseInt(o, 8)));

export function mountPoints(mountinfo: string): string[] {
  return mountinfo
    .split('\n')
    .filter(Boolean)
    .map((l) => unescape(l.split(' ')[4] ?? ''));
}

/**
 * The kubelet's IsLikelyNotMountPoint, inverted: a directory on another device than
 * its parent is a mount point. Two stats, where /proc/self/mountinfo (hundreds of
 * lines with a node's containers) costs a read and a parse: enough for the tmpfs
 * mounts pod-sync makes (each has a device of its own), blind to a bind of the same
 * filesystem.
 */
export function isLikelyMountPoint(dir: string): boolean {
  const st = statSync(dir, { throwIfNoEntry: false });
  if (!st) return false;
  return st.dev !== statSync(dirname(dir)).dev;
}

export class SystemMounter implements Mounter {
  private readonly shell = new CommandShell();
  private readonly run = (file: string, args: string[]) => this.shell.run(file, args);

  async mountTmpfs(dir: string, sizeBytes?: bigint): Promise<void> {
    // Every sync asks again (a volume is refreshed each time): the cheap check.
    if (isLikelyMountPoint(dir)) return;
    const opts = ['mode=0755', ...(sizeBytes && sizeBytes > 0n ? [`size=${sizeBytes}`] : [])].join(',');
    await this.run('mount', ['-t', 'tmpfs', '-o', opts, 'tmpfs', dir]);
  }

  async bind(source: string, target: string): Promise<void> {
    await this.run('mount', ['--no-canonicalize', '--bind', source, target]);
  }

  async unmount(target: string): Promise<void> {
    await this.run('umount', [target]);
  }

  mountPointsUnder(dir: string): string[] {
    const base = dir.replace(/\/+$/, '');
    return mountPoints(readFileSync('/proc/self/mountinfo', 'utf8'))
      .filter((p) => p === base || p.startsWith(`${base}/`))
      .sort((a, b) => b.length - a.length);
  }

  async makeRShared(dir: string): Promise<void> {
    // Several pod-syncs may share a data dir (nodes on one host, as the e2e tests run
    // them): two binding it onto itself at once would stack two mounts, and the upper
    // one hides every tmpfs made below the lower one. A lock file serializes them.
    await withLockFile(join(dir, '.splitlet-mount.lock'), async () => {
      if (!this.isMountPoint(dir)) await this.run('mount', ['--bind', dir, dir]);
      await this.run('mount', ['--make-rshared', dir]);
    });
  }

  private isMountPoint(dir: string): boolean {
    return this.mountPointsUnder(dir).includes(dir.replace(/\/+$/, ''));
  }
}
