import { chmodSync, chownSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, renameSync, rmSync, statSync, symlinkSync, unlinkSync, writeFileSync } from 'node:fs';
import { basename, dirname, join, normalize, sep } from 'node:path';

/** One file of a volume's payload: its bytes and its permission bits. */
export interface FileProjection {
  data: Buffer;
  mode: number;
}

/** Relative path → file. */
export type Payload = Map<string, FileProjection>;

const DATA_DIR = '..data';
const DATA_DIR_TMP = '..data_tmp';

/**
 * A payload path must stay inside the volume: relative, no `..` element, no
 * element starting with `..` (those names are the writer's own), as the kubelet's
 * validatePath.
 */
export function validatePayloadPath(path: string): void {
  if (!path) throw new Error('invalid path: must not be empty');
  if (path.startsWith('/')) throw new Error(`invalid path: must be relative path: ${path}`);
  if (path.length > 4096) throw new Error(`invalid path: must be less than or equal to 4096 characters`);
  for (const part of path.split('/')) {
    if (part === '..') throw new Error(`invalid path: must not contain '..': ${path}`);
    if (part.startsWith('..')) throw new Error(`invalid path: must not start with '..': ${path}`);
  }
}

const stamp = (now: Date) => {
  const p = (n: number, w = 2) => String(n).padStart(w, '0');
  return `..${now.getUTCFullYear()}_${p(now.getUTCMonth() + 1)}_${p(now.getUTCDate())}_${p(now.getUTCHours())}_${p(now.getUTCMinutes())}_${p(now.getUTCSeconds())}.`;
};

/** What a volume holds as writeAtomically left it: the directory `..data` names, and its files. */
export interface WrittenPayload {
  link: string;
  files: Map<string, FileProjection>;
}

/** Where `..data` points, or undefined if nothing was written yet. */
function dataLink(target: string): string | undefined {
  try {
    return readlinkSync(join(target, DATA_DIR));
  } catch {
    return undefined;
  }
}

/** The payload the volume shows now (read through `..data`), or undefined if none was written yet. */
function currentPayload(target: string): (WrittenPayload & { dir: string }) | undefined {
  const link = dataLink(target);
  if (link === undefined) return undefined;
  const dir = join(target, link);
  const files = new Map<string, { data: Buffer; mode: number }>();
  const walk = (rel: string) => {
    for (const e of readdirSync(join(dir, rel), { withFileTypes: true })) {
      const r = rel ? `${rel}/${e.name}` : e.name;
      if (e.isDirectory()) walk(r);
      else files.set(r, { data: readFileSync(join(dir, r)), mode: statSync(join(dir, r)).mode & 0o7777 });
    }
  };
  try {
    walk('');
  } catch {
    return undefined;
  }
  return { link, dir, files };
}

const samePayload = (a: Map<string, FileProjection>, b: Payload) =>
  a.size === b.size && [...b].every(([p, f]) => {
    const old = a.get(p);
    return old !== undefined && old.mode === f.mode && old.data.equals(f.data);
  });

/**
 * The kubelet's AtomicWriter (pkg/volume/util/atomic_writer.go): the files live in a
 * timestamped directory `..<time>.<random>`; `..data` is a symlink to it; each
 * top-level name the user sees is a symlink through `..data`. An update writes a new
 * timestamped directory and renames a fresh `..data_tmp` symlink over `..data` (one
 * rename, so a reader sees either the whole old payload or the whole new one), then
 * drops names no longer in the payload and the old directory. An unchanged payload
 * writes nothing. With a gid (the pod's fsGroup) every file and directory written
 * belongs to that group. Returns whether it wrote.
 *
 * `memo` (by target) keeps what was last written or found: while `..data` still names
 * the directory it names, an unchanged payload is known without reading every file
 * again. A volume is refreshed every 10 s, and reading its files back was most of what
 * pod-sync allocated with 100 pods (issue 17). Any other writer's update makes a new
 * directory, so `..data` then names another and the files are read as before.
 */
export function writeAtomically(target: string, payload: Payload, now = new Date(), gid?: number, memo?: Map<string, WrittenPayload>): boolean {
  for (const p of payload.keys()) validatePayloadPath(p);
  const clean = new Map([...payload].map(([p, f]) => [normalize(p).split(sep).filter(Boolean).join('/'), f]));
  const known = memo?.get(target);
  if (known && known.link === dataLink(target) && samePayload(known.files, clean)) return false;
  mkdirSync(target, { recursive: true });
  const old = currentPayload(target);
  if (old && samePayload(old.files, clean)) {
    memo?.set(target, { link: old.link, files: clean });
    return false;
  }

  const tsDir = mkdtempSync(join(target, stamp(now)));
  chmodSync(tsDir, 0o755);
  const own = (path: string) => gid !== undefined && chownSync(path, 0, gid);
  own(tsDir);
  for (const [p, f] of clean) {
    const file = join(tsDir, p);
    const made = mkdirSync(dirname(file), { recursive: true, mode: 0o755 });
    if (made) for (let d = dirname(file); d.length >= made.length; d = dirname(d)) own(d);
    writeFileSync(file, f.data, { mode: f.mode });
    own(file);
    chmodSync(file, f.mode); // writeFile's mode is filtered by the umask; chown clears setuid bits
  }
  // The names the user sees: one symlink per top-level element, through ..data.
  const visible = new Set([...clean.keys()].map((p) => p.split('/')[0]!));
  for (const name of visible) {
    const link = join(target, name);
    let exists = true;
    try {
      lstatSync(link);
    } catch {
      exists = false;
    }
    if (!exists) symlinkSync(join(DATA_DIR, name), link);
  }
  const tmp = join(target, DATA_DIR_TMP);
  rmSync(tmp, { force: true });
  symlinkSync(basename(tsDir), tmp);
  renameSync(tmp, join(target, DATA_DIR));
  for (const e of readdirSync(target, { withFileTypes: true })) {
    if (e.name.startsWith('..') || visible.has(e.name) || !e.isSymbolicLink()) continue;
    unlinkSync(join(target, e.name));
  }
  if (old) rmSync(old.dir, { recursive: true, force: true });
  memo?.set(target, { link: basename(tsDir), files: clean });
  return true;
}
