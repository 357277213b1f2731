import { lstatSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { validatePayloadPath, writeAtomically, type Payload, type WrittenPayload } from './atomic-writer';

const file = (s: string, mode = 0o644) => ({ data: Buffer.from(s), mode });

describe('pod-sync atomic writer', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'aw-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('atomic writer - files appear under their names through ..data, with their modes', () => {
    const payload: Payload = new Map([
      ['a', file('alpha', 0o600)],
      ['sub/b', file('beta')],
    ]);
    expect(writeAtomically(dir, payload, new Date(Date.UTC(2026, 0, 2, 3, 4, 5)))).toBe(true);
    expect(readFileSync(join(dir, 'a'), 'utf8')).toBe('alpha');
    expect(readFileSync(join(dir, 'sub/b'), 'utf8')).toBe('beta');
    expect(statSync(join(dir, 'a')).mode & 0o777).toBe(0o600);
    expect(readlinkSync(join(dir, 'a'))).toBe('..data/a');
    expect(readlinkSync(join(dir, 'sub'))).toBe('..data/sub');
    expect(readlinkSync(join(dir, '..data'))).toMatch(/^\.\.2026_01_02_03_04_05\.\w+$/);
  });

  it('atomic writer - an update swaps ..data to a new directory, drops removed names and the old directory', () => {
    writeAtomically(dir, new Map([['a', file('one')], ['gone', file('x')]]));
    const first = readlinkSync(join(dir, '..data'));
    expect(writeAtomically(dir, new Map([['a', file('two')], ['new', file('n')]]))).toBe(true);
    expect(readFileSync(join(dir, 'a'), 'utf8')).toBe('two');
    expect(readFileSync(join(dir, 'new'), 'utf8')).toBe('n');
    expect(readlinkSync(join(dir, '..data'))).not.toBe(first);
    expect(readdirSync(dir).sort()).toEqual(['..data', readlinkSync(join(dir, '..data')), 'a', 'new'].sort());
  });

  it('atomic writer - an unchanged payload writes nothing; a changed mode alone is a change', () => {
    writeAtomically(dir, new Map([['a', file('same')]]));
    const first = readlinkSync(join(dir, '..data'));
    expect(writeAtomically(dir, new Map([['a', file('same')]]))).toBe(false);
    expect(readlinkSync(join(dir, '..data'))).toBe(first);
    expect(writeAtomically(dir, new Map([['a', file('same', 0o400)]]))).toBe(true);
    expect(statSync(join(dir, 'a')).mode & 0o777).toBe(0o400);
  });

  it('atomic writer - with a memo: unchanged writes nothing, a change is written, as without one', () => {
    const memo = new Map<string, WrittenPayload>();
    expect(writeAtomically(dir, new Map([['a', file('same')]]), undefined, undefined, memo)).toBe(true);
    const first = readlinkSync(join(dir, '..data'));
    expect(writeAtomically(dir, new Map([['a', file('same')]]), undefined, undefined, memo)).toBe(false);
    expect(readlinkSync(join(dir, '..data'))).toBe(first);
    expect(writeAtomically(dir, new Map([['a', file('same', 0o400)]]), undefined, undefined, memo)).toBe(true);
    expect(writeAtomically(dir, new Map([['a', file('other', 0o400)], ['b', file('new')]]), undefined, undefined, memo)).toBe(true);
    expect([readFileSync(join(dir, 'a'), 'utf8'), readFileSync(join(dir, 'b'), 'utf8')]).toEqual(['other', 'new']);
    expect(writeAtomically(dir, new Map([['a', file('other', 0o400)]]), undefined, undefined, memo)).toBe(true);
    expect(readdirSync(dir).filter((n) => !n.startsWith('..'))).toEqual(['a']);
  });

  it("atomic writer - with a memo: another writer's update (another pod-sync) or a removed volume is seen, and the payload written again", () => {
    const memo = new Map<string, WrittenPayload>();
    writeAtomically(dir, new Map([['a', file('mine')]]), undefined, undefined, memo);
    writeAtomically(dir, new Map([['a', file('theirs')]]));
    expect(writeAtomically(dir, new Map([['a', file('mine')]]), undefined, undefined, memo)).toBe(true);
    expect(readFileSync(join(dir, 'a'), 'utf8')).toBe('mine');
    rmSync(dir, { recursive: true, force: true });
    expect(writeAtomically(dir, new Map([['a', file('mine')]]), undefined, undefined, memo)).toBe(true);
    expect(readFileSync(join(dir, 'a'), 'utf8')).toBe('mine');
    // A memo that never saw the volume reads what is there: the same payload is not written again.
    const fresh = new Map<string, WrittenPayload>();
    expect(writeAtomically(dir, new Map([['a', file('mine')]]), undefined, undefined, fresh)).toBe(false);
    expect(fresh.get(dir)?.link).toBe(readlinkSync(join(dir, '..data')));
  });

  it('atomic writer - an empty payload leaves only ..data', () => {
    writeAtomically(dir, new Map([['a', file('x')]]));
    writeAtomically(dir, new Map());
    expect(readdirSync(dir).filter((n) => !n.startsWith('..'))).toEqual([]);
    expect(lstatSync(join(dir, '..data')).isSymbolicLink()).toBe(true);
  });

  it.each([
    ['absolute', '/etc/passwd', 'must be relative path'],
    ['a .. element', 'a/../../b', "must not contain '..'"],
    ['a name of the writer', '..data', "must not start with '..'"],
    ['empty', '', 'must not be empty'],
  ])('atomic writer - refuses a path that is %s, writing nothing', (_what, path, message) => {
    expect(() => validatePayloadPath(path)).toThrow(message);
    expect(() => writeAtomically(dir, new Map([['ok', file('x')], [path, file('y')]]))).toThrow(message);
    expect(readdirSync(dir)).toEqual([]);
  });
});
