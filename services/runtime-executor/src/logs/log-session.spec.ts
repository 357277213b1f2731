import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { LOG_WINDOW_BYTES, LogSession } from './log-session';

const frame = (text: string) => {
  const payload = Buffer.from(`2026-12-03T10:00:00.000000001Z ${text}`);
  const header = Buffer.alloc(8);
  header[0] = 1;
  header.writeUInt32BE(payload.length, 4);
  return Buffer.concat([header, payload]);
};
const line = `${'x'.repeat(1023)}\n`;
const tick = () => new Promise((r) => setImmediate(r));

describe('log session', () => {
  it('LogSession - stops reading Docker once a window is buffered, and reads on when pulled', async () => {
    const docker = new PassThrough({ highWaterMark: 16 * 1024 });
    const session = new LogSession(docker, { tty: false, timestamps: false, limitBytes: 0 });
    let written = 0;
    // A fast container: write until Docker's side (the PassThrough) pushes back.
    while (docker.write(frame(line))) written++;
    for (let i = 0; i < 5; i++) await tick();
    while (docker.write(frame(line))) written++;
    for (let i = 0; i < 5; i++) await tick();
    expect(docker.isPaused()).toBe(true);
    const first = await session.read(LOG_WINDOW_BYTES * 2, 0);
    expect(first.data.length).toBeGreaterThanOrEqual(LOG_WINDOW_BYTES);
    expect(first.data.length).toBeLessThan(LOG_WINDOW_BYTES + 64 * 1024);
    expect(first.eof).toBe(false);
    expect(docker.isPaused()).toBe(false);
    expect(written).toBeGreaterThan(0);
  });

  it('LogSession - a pull waits for the next line, then answers it', async () => {
    const docker = new PassThrough();
    const session = new LogSession(docker, { tty: false, timestamps: false, limitBytes: 0 });
    const pending = session.read(1024, 5_000);
    docker.write(frame('late\n'));
    expect((await pending).data.toString()).toBe('late\n');
  });

  it('LogSession - answers an empty chunk when nothing came within the wait', async () => {
    const session = new LogSession(new PassThrough(), { tty: false, timestamps: false, limitBytes: 0 });
    expect(await session.read(1024, 20)).toEqual({ data: Buffer.alloc(0), eof: false, error: '' });
  });

  it('LogSession - ends after the last buffered bytes when Docker\'s stream ends', async () => {
    const docker = new PassThrough();
    const session = new LogSession(docker, { tty: false, timestamps: false, limitBytes: 0 });
    docker.end(frame('last\n'));
    await tick();
    expect(await session.read(2, 0)).toMatchObject({ eof: false });
    expect((await session.read(1024, 0)).data.toString()).toBe('st\n');
    expect(await session.read(1024, 1000)).toMatchObject({ eof: true, error: '' });
  });

  it('LogSession - close destroys Docker\'s stream and wakes a waiting pull', async () => {
    const docker = new PassThrough();
    const session = new LogSession(docker, { tty: false, timestamps: false, limitBytes: 0 });
    const pending = session.read(1024, 10_000);
    session.close();
    expect(await pending).toMatchObject({ eof: true });
    expect(docker.destroyed).toBe(true);
  });

  it('LogSession - stops reading Docker at limitBytes', async () => {
    const docker = new PassThrough();
    const session = new LogSession(docker, { tty: false, timestamps: false, limitBytes: 3 });
    docker.write(frame('hello\n'));
    await tick();
    expect(docker.destroyed).toBe(true);
    expect((await session.read(1024, 0)).data.toString()).toBe('hel');
    expect((await session.read(1024, 0)).eof).toBe(true);
  });
});
