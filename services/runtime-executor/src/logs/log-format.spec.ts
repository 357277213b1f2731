import { describe, expect, it } from 'vitest';
import { dockerSince, LogFormatter, rfc3339Nano } from './log-format';

const frame = (stream: 1 | 2, text: string) => {
  const payload = Buffer.from(text);
  const header = Buffer.alloc(8);
  header[0] = stream;
  header.writeUInt32BE(payload.length, 4);
  return Buffer.concat([header, payload]);
};
const text = (parts: Buffer[]) => Buffer.concat(parts).toString();

describe('log format', () => {
  it('LogFormatter - merges stdout and stderr in the order written and drops the times unless asked', () => {
    const f = new LogFormatter({ tty: false, timestamps: false, limitBytes: 0 });
    const raw = Buffer.concat([frame(1, '2026-12-03T10:00:00.100000000Z out 1\n'), frame(2, '2026-12-03T10:00:00.200000000Z err\n'), frame(1, '2026-12-03T10:00:01.000000000Z out 2\n')]);
    expect(text(f.push(raw))).toBe('out 1\nerr\nout 2\n');
  });

  it('LogFormatter - prefixes each line with its RFC3339Nano time when asked', () => {
    const f = new LogFormatter({ tty: false, timestamps: true, limitBytes: 0 });
    expect(text(f.push(Buffer.concat([frame(1, '2026-12-03T10:00:00.120000000Z a\n'), frame(2, '2026-12-03T10:00:01.000000000Z b\n')])))).toBe(
      '2026-12-03T10:00:00.12Z a\n2026-12-03T10:00:01Z b\n',
    );
  });

  it('LogFormatter - waits for a frame split across chunks', () => {
    const f = new LogFormatter({ tty: false, timestamps: false, limitBytes: 0 });
    const raw = frame(1, '2026-12-03T10:00:00.100000000Z hello\n');
    expect(f.push(raw.subarray(0, 5))).toEqual([]);
    expect(f.push(raw.subarray(5, 20))).toEqual([]);
    expect(text(f.push(raw.subarray(20)))).toBe('hello\n');
  });

  it('LogFormatter - stops at limitBytes, counting the time prefix, cutting the last line', () => {
    const f = new LogFormatter({ tty: false, timestamps: false, limitBytes: 8 });
    expect(text(f.push(Buffer.concat([frame(1, '2026-12-03T10:00:00.1Z hello\n'), frame(1, '2026-12-03T10:00:00.2Z world\n')])))).toBe('hello\nwo');
    expect(f.done).toBe(true);
    expect(f.push(frame(1, '2026-12-03T10:00:00.3Z more\n'))).toEqual([]);
  });

  it('LogFormatter - reads a TTY container\'s raw lines', () => {
    const f = new LogFormatter({ tty: true, timestamps: false, limitBytes: 0 });
    expect(text(f.push(Buffer.from('2026-12-03T10:00:00.100000000Z one\r\n2026-12-03T10:00:00.2Z tw')))).toBe('one\r\n');
    expect(text(f.push(Buffer.from('o\n')))).toBe('two\n');
  });

  it('LogFormatter - keeps only the stream asked for', () => {
    const raw = Buffer.concat([frame(1, '2026-12-03T10:00:00.1Z out\n'), frame(2, '2026-12-03T10:00:00.2Z err\n')]);
    expect(text(new LogFormatter({ tty: false, timestamps: false, limitBytes: 0, only: 2 }).push(raw))).toBe('err\n');
    expect(text(new LogFormatter({ tty: false, timestamps: false, limitBytes: 0, only: 1 }).push(raw))).toBe('out\n');
  });

  it('rfc3339Nano - drops trailing zeros of the fraction, and the dot when none is left', () => {
    expect(rfc3339Nano('2026-12-03T10:00:00.123456789Z')).toBe('2026-12-03T10:00:00.123456789Z');
    expect(rfc3339Nano('2026-12-03T10:00:00.120000000Z')).toBe('2026-12-03T10:00:00.12Z');
    expect(rfc3339Nano('2026-12-03T10:00:00.000000000Z')).toBe('2026-12-03T10:00:00Z');
  });

  it('dockerSince - writes Unix nanoseconds as Docker\'s seconds.nanoseconds', () => {
    expect(dockerSince(1_700_000_000_000_000_005n)).toBe('1700000000.000000005');
  });
});
