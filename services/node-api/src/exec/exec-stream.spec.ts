import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { STDIN_CHUNK, stdinWrites } from './exec-stream';

describe('node-api stdinWrites', () => {
  it('stdinWrites - what arrived during a write goes in the next one, at most STDIN_CHUNK each, every byte in order', async () => {
    const frames = Array.from({ length: 100 }, (_, i) => Buffer.alloc(8 * 1024, i));
    const readable = new Readable({ read: () => undefined });
    for (const f of frames) readable.push(f);
    readable.push(null);
    const writes: Buffer[] = [];
    for await (const w of stdinWrites(readable)) writes.push(w);
    // 800 KiB buffered: three full writes and the rest, not a hundred 8 KiB ones.
    expect(writes.map((w) => w.length)).toEqual([STDIN_CHUNK, STDIN_CHUNK, STDIN_CHUNK, 800 * 1024 - 3 * STDIN_CHUNK]);
    expect(Buffer.concat(writes).equals(Buffer.concat(frames))).toBe(true);
  });

  it('stdinWrites - a frame that comes alone is written alone, at once', async () => {
    const readable = new Readable({ read: () => undefined });
    const it = stdinWrites(readable)[Symbol.asyncIterator]();
    readable.push(Buffer.from('hello\n'));
    expect((await it.next()).value?.toString()).toBe('hello\n');
    readable.push(null);
    expect((await it.next()).done).toBe(true);
  });
});
