import { chmodSync, closeSync, fstatSync, mkdirSync, mkdtempSync, readlinkSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Mounter } from './mounter';
import { bindSubPath, openWithin, safeMakeDir, withinBase } from './subpath';
import { writeAtomically } from './atomic-writer';

/** Records binds by what the fd source named at the time (the real bind happens in the e2e tests). */
function recordingMounter(): Mounter & { binds: { source: string; target: string }[] } {
  const binds: { source: string; target: string }[] = [];
  return {
    binds,
    mountTmpfs: async () => undefined,
    bind: async (source, target) => void binds.push({ source: readlinkSync(source), target }),
    unmount: async () => undefined,
    mountPointsUnder: () => [],
    makeRShared: async () => undefined,
  };
}

describe('pod-sync subPath safety', () => {
  let root: string;
  let vol: string;
  let outside: string;
  beforeEach(() => {
    root = mkdtempSync(join(tmpdir(), 'subpath-'));
    vol = join(root, 'vol');
    outside = join(root, 'outside');
    mkdirSync(join(vol, 'a/b'), { recursive: true });
    mkdirSync(outside);
    writeFileSync(join(outside, 'host-secret'), 'x');
  });
  afterEach(() => rmSync(root, { recursive: true, force: true }));

  it('subpath - within: the atomic writer\'s ..names are inside, a parent is not', () => {
    expect(withinBase('/v/..data/k', '/v')).toBe(true);
    expect(withinBase('/v', '/v')).toBe(true);
    expect(withinBase('/other', '/v')).toBe(false);
    expect(withinBase('/v2/x', '/v')).toBe(false);
  });

  it('subpath - a directory of the volume is bound from an fd naming exactly it', async () => {
    const m = recordingMounter();
    await bindSubPath(m, vol, 'a/b', join(root, 'target/0'));
    expect(m.binds).toEqual([{ source: join(vol, 'a/b'), target: join(root, 'target/0') }]);
  });

  it('subpath - a missing subPath is created as directories inside the volume', async () => {
    const m = recordingMounter();
    await bindSubPath(m, vol, 'new/deeper', join(root, 'target/0'));
    expect(fstatSync(openWithin(vol, 'new/deeper')).isDirectory()).toBe(true);
    expect(m.binds[0]?.source).toBe(join(vol, 'new/deeper'));
  });

  it('subpath - a missing subPath gets the volume\'s mode exactly, setgid included, whatever the umask; what exists is left alone (doSafeMakeDir)', async () => {
    const before = process.umask(0o022);
    try {
      chmodSync(vol, 0o2777); // an emptyDir with an fsGroup
      const aMode = statSync(join(vol, 'a')).mode & 0o7777;
      await bindSubPath(recordingMounter(), vol, 'a/x/y', join(root, 'target/0'));
      expect((statSync(join(vol, 'a/x')).mode & 0o7777).toString(8)).toBe('2777');
      expect((statSync(join(vol, 'a/x/y')).mode & 0o7777).toString(8)).toBe('2777');
      expect(statSync(join(vol, 'a')).mode & 0o7777).toBe(aMode);
      chmodSync(vol, 0o777); // an emptyDir without one
      await bindSubPath(recordingMounter(), vol, 'plain', join(root, 'target/1'));
      expect((statSync(join(vol, 'plain')).mode & 0o7777).toString(8)).toBe('777');
    } finally {
      process.umask(before);
    }
  });

  it('subpath - a symlink planted in the volume pointing out of it is refused, nothing bound (CVE-2021-25741)', async () => {
    symlinkSync(outside, join(vol, 'link'));
    symlinkSync('../../outside/host-secret', join(vol, 'a/file-link'));
    const m = recordingMounter();
    await expect(bindSubPath(m, vol, 'link', join(root, 'target/0'))).rejects.toThrow(/is not within/);
    await expect(bindSubPath(m, vol, 'a/file-link', join(root, 'target/1'))).rejects.toThrow(/is not within/);
    await expect(bindSubPath(m, vol, 'link/newdir', join(root, 'target/2'))).rejects.toThrow(/is not within|ELOOP|ENOTDIR/);
    expect(m.binds).toEqual([]);
  });

  it('subpath - a symlink swapped in after the check is not followed by the open (the race the fd walk closes)', () => {
    // What bindSubPath checked was a directory; the container then swaps it for a symlink.
    rmSync(join(vol, 'a/b'), { recursive: true });
    symlinkSync(outside, join(vol, 'a/b'));
    expect(() => openWithin(vol, 'a/b/host-secret')).toThrow();
    expect(() => openWithin(vol, 'a/b')).toThrow(/contains a symlink at b/);
    expect(() => safeMakeDir(vol, 'a/b/made', 0o755)).toThrow();
  });

  it('subpath - a key of a configMap volume (a symlink through ..data, inside the volume) is bound as the file it names now', async () => {
    writeAtomically(vol, new Map([['key', { data: Buffer.from('v1'), mode: 0o644 }]]));
    const m = recordingMounter();
    await bindSubPath(m, vol, 'key', join(root, 'target/0'));
    expect(m.binds[0]?.source).toBe(join(vol, readlinkSync(join(vol, '..data')), 'key'));
  });

  it('subpath - absolute paths and .. are refused before anything is touched', async () => {
    const m = recordingMounter();
    await expect(bindSubPath(m, vol, '/etc', join(root, 't'))).rejects.toThrow('must not be an absolute path');
    await expect(bindSubPath(m, vol, 'a/../..', join(root, 't'))).rejects.toThrow("must not contain '..'");
    expect(m.binds).toEqual([]);
  });

  it('subpath - the fd is closed after the bind', async () => {
    const m = recordingMounter();
    let fd = -1;
    m.bind = async (source) => void (fd = Number(source.split('/').pop()));
    await bindSubPath(m, vol, 'a', join(root, 't/0'));
    expect(() => closeSync(fd)).toThrow(/EBADF/);
  });
});
