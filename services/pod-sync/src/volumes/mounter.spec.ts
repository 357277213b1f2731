import { mkdtempSync, writeFileSync, utimesSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { isLikelyMountPoint, withLockFile } from './mounter';

describe('the data dir lock', () => {
  it('runs one holder at a time (a second waits for the first) and removes the lock after', async () => {
    const lock = join(mkdtempSync(join(tmpdir(), 'lock-')), '.lock');
    const seen: string[] = [];
    const holder = (name: string) =>
      withLockFile(lock, async () => {
        seen.push(`${name} in`);
        await new Promise((r) => setTimeout(r, 100));
        seen.push(`${name} out`);
      });
    await Promise.all([holder('a'), holder('b')]);
    expect(seen).toEqual(['a in', 'a out', 'b in', 'b out']);
    expect(existsSync(lock)).toBe(false);
  });

  it('takes over a lock left by a process that died (older than 30 s)', async () => {
    const lock = join(mkdtempSync(join(tmpdir(), 'lock-')), '.lock');
    writeFileSync(lock, '');
    const old = new Date(Date.now() - 60_000);
    utimesSync(lock, old, old);
    expect(await withLockFile(lock, async () => 'ran')).toBe('ran');
  });
});

describe('the mount point check', () => {
  it('a directory on another device than its parent is a mount point; a plain or missing directory is not', () => {
    expect(isLikelyMountPoint('/proc')).toBe(true);
    const dir = mkdtempSync(join(tmpdir(), 'mnt-'));
    expect(isLikelyMountPoint(dir)).toBe(false);
    expect(isLikelyMountPoint(join(dir, 'missing'))).toBe(false);
  });
});
