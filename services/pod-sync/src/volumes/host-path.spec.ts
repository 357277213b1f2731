import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { checkHostPathType } from './host-path';

describe('pod-sync hostPath types', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'hostpath-'));
    mkdirSync(join(dir, 'd'));
    writeFileSync(join(dir, 'f'), 'keep');
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('hostPath - DirectoryOrCreate and FileOrCreate make what is missing, keep what is there', () => {
    checkHostPathType(join(dir, 'new/dir'), 'DirectoryOrCreate');
    expect(statSync(join(dir, 'new/dir')).mode & 0o777).toBe(0o755);
    checkHostPathType(join(dir, 'newfile'), 'FileOrCreate');
    expect(statSync(join(dir, 'newfile')).isFile()).toBe(true);
    checkHostPathType(join(dir, 'f'), 'FileOrCreate');
    expect(readFileSync(join(dir, 'f'), 'utf8')).toBe('keep');
  });

  it.each([
    ['Directory', 'f', 'is not a directory'],
    ['Directory', 'missing', 'is not a directory'],
    ['DirectoryOrCreate', 'f', 'is not a directory'],
    ['File', 'd', 'is not a file'],
    ['FileOrCreate', 'd', 'is not a file'],
    ['Socket', 'f', 'is not a socket file'],
    ['CharDevice', 'f', 'is not a character device'],
    ['BlockDevice', 'f', 'is not a block device'],
  ])('hostPath - type %s on %s fails: "%s"', (type, name, what) => {
    expect(() => checkHostPathType(join(dir, name), type)).toThrow(`hostPath type check failed: ${join(dir, name)} ${what}`);
  });

  it('hostPath - no type, or the right kind, passes; /dev/null is a character device', () => {
    expect(() => checkHostPathType(join(dir, 'missing'), undefined)).not.toThrow();
    expect(() => checkHostPathType(join(dir, 'd'), 'Directory')).not.toThrow();
    expect(() => checkHostPathType(join(dir, 'f'), 'File')).not.toThrow();
    expect(() => checkHostPathType('/dev/null', 'CharDevice')).not.toThrow();
  });
});
