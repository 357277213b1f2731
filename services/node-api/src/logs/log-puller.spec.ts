import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { containerLogStreamSubject } from '@splitlet/bus';
import { create, fromBinary, ReadContainerLogRequestSchema, ReadContainerLogResponseSchema, toBinary, type ReadContainerLogRequest } from '@splitlet/contracts';
import { useNatsServer, waitFor } from '@splitlet/testing';
import { pullContainerLog } from './log-puller';

const nats = useNatsServer();

/** An executor's side of one log stream: answers each pull with what `answer` gives, records the pulls. */
function fakeStream(id: string, answer: (req: ReadContainerLogRequest, n: number) => { data?: Buffer; eof?: boolean; error?: string }) {
  const pulls: ReadContainerLogRequest[] = [];
  const sub = nats.nc.subscribe(containerLogStreamSubject('node-a', id), {
    callback: (_err, msg) => {
      const req = fromBinary(ReadContainerLogRequestSchema, msg.data);
      pulls.push(req);
      msg.respond(toBinary(ReadContainerLogResponseSchema, create(ReadContainerLogResponseSchema, answer(req, pulls.length))));
    },
  });
  return { pulls, stop: () => sub.unsubscribe() };
}

/** A reader that takes bytes only when told (a slow `kubectl logs -f`). */
function slowReader() {
  const got: Buffer[] = [];
  let release: (() => void) | undefined;
  const out = new Writable({
    highWaterMark: 1024,
    write(chunk: Buffer, _enc, cb) {
      got.push(chunk);
      release = () => cb();
    },
  });
  return { out, got, takeOne: () => release?.() };
}

describe('log puller', () => {
  it('pullContainerLog - copies chunks in order until the end', async () => {
    const parts = ['one\n', 'two\n', 'three\n'];
    const s = fakeStream('s1', (_r, n) => (n <= parts.length ? { data: Buffer.from(parts[n - 1]!) } : { eof: true }));
    const chunks: Buffer[] = [];
    const out = new Writable({ write: (c: Buffer, _e, cb) => (chunks.push(c), cb()) });
    await pullContainerLog(nats.nc, 'node-a', 's1', out, new AbortController().signal);
    expect(Buffer.concat(chunks).toString()).toBe('one\ntwo\nthree\n');
    s.stop();
  });

  it('pullContainerLog - does not pull again while the reader has not taken the last chunk', async () => {
    const s = fakeStream('s2', () => ({ data: Buffer.alloc(64 * 1024, 'x') }));
    const reader = slowReader();
    const gone = new AbortController();
    const pulling = pullContainerLog(nats.nc, 'node-a', 's2', reader.out, gone.signal);
    await waitFor('a first pull', async () => (s.pulls.length ? true : undefined));
    await new Promise((r) => setTimeout(r, 300));
    expect(s.pulls.filter((p) => !p.close)).toHaveLength(1);
    reader.takeOne();
    await waitFor('a second pull once drained', async () => (s.pulls.filter((p) => !p.close).length === 2 ? true : undefined));
    gone.abort();
    await pulling;
    s.stop();
  });

  it('pullContainerLog - a reader that goes away closes the stream on the executor at once', async () => {
    const s = fakeStream('s3', () => ({ data: Buffer.alloc(0) }));
    const gone = new AbortController();
    const out = new Writable({ write: (_c, _e, cb) => cb() });
    const pulling = pullContainerLog(nats.nc, 'node-a', 's3', out, gone.signal);
    await waitFor('pulling', async () => (s.pulls.length ? true : undefined));
    const at = Date.now();
    gone.abort();
    await waitFor('close', async () => (s.pulls.some((p) => p.close) ? true : undefined), 1_000, 10);
    expect(Date.now() - at).toBeLessThan(1_000);
    await pulling;
    s.stop();
  });

  it('pullContainerLog - rejects with the executor\'s error', async () => {
    const s = fakeStream('s4', () => ({ error: 'docker: gone', eof: true }));
    const out = new Writable({ write: (_c, _e, cb) => cb() });
    await expect(pullContainerLog(nats.nc, 'node-a', 's4', out, new AbortController().signal)).rejects.toThrow('container log: docker: gone');
    s.stop();
  });
});
