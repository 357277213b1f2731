import { spawn } from 'node:child_process';
import { createServer, type Server, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { FORWARD_HELPER } from './port-forward';

// The helper as it runs inside a sandbox, here without nsenter: against a server on this host's loopback.
describe('port-forward helper', () => {
  let server: Server | undefined;
  afterEach(() => server?.close());

  async function serve(onConnection: (s: Socket) => void): Promise<number> {
    server = createServer({ allowHalfOpen: true }, onConnection);
    await new Promise<void>((r) => server!.listen(0, '127.0.0.1', r));
    return (server.address() as AddressInfo).port;
  }

  function helper(port: number) {
    const child = spawn(process.execPath, ['-e', FORWARD_HELPER, String(port)], { stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    const exited = new Promise<{ code: number | null; at: number }>((r) => child.once('close', (code) => r({ code, at: Date.now() })));
    return { child, exited, out: () => out };
  }

  it('FORWARD_HELPER - the pod\'s side closing ends the connection within about a second, its bytes all out, though the client never closed its side', async () => {
    let finishedAt = 0;
    const port = await serve((s) => {
      s.end('HTTP/1.0 200 OK\r\n\r\nbye', () => (finishedAt = Date.now()));
    });
    const h = helper(port);
    h.child.stdin.write('GET / HTTP/1.0\r\n\r\n');
    const { code, at } = await h.exited;
    expect(code).toBe(0);
    expect(h.out()).toBe('HTTP/1.0 200 OK\r\n\r\nbye');
    expect(at - finishedAt).toBeLessThan(2_500);
  });

  it('FORWARD_HELPER - the client\'s end of stdin reaches the pod as a half-close; its answer after that still comes back, then the helper ends at once', async () => {
    const port = await serve((s) => {
      let got = '';
      s.on('data', (d: Buffer) => (got += d.toString()));
      s.on('end', () => s.end(`got ${got}`));
    });
    const h = helper(port);
    const started = Date.now();
    h.child.stdin.end('ping');
    const { code, at } = await h.exited;
    expect([code, h.out()]).toEqual([0, 'got ping']);
    expect(at - started).toBeLessThan(900);
  });

  it('FORWARD_HELPER - nothing listening: the connect error on stderr, exit 1', async () => {
    const port = await serve(() => undefined);
    await new Promise<void>((r) => server!.close(() => r()));
    server = undefined;
    const child = spawn(process.execPath, ['-e', FORWARD_HELPER, String(port)], { stdio: ['pipe', 'pipe', 'pipe'] });
    let err = '';
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    const code = await new Promise<number | null>((r) => child.once('close', r));
    expect(code).toBe(1);
    expect(err).toContain('ECONNREFUSED');
  });
});
