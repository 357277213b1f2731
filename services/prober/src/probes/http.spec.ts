import { createServer, type IncomingHttpHeaders, type Server, type ServerResponse } from 'node:http';
import { createServer as createTlsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { TEST_CERT, TEST_KEY } from '../__fixtures__/tls';
import { container, podView, probe } from '../__fixtures__/views';
import { HttpProbe } from './http';
import { isProbeError } from './types';

type Handler = (req: { url: string; headers: IncomingHttpHeaders }, res: ServerResponse) => void;

const servers: Server[] = [];
async function serve(handler: Handler): Promise<number> {
  const s = createServer((req, res) => handler({ url: req.url ?? '', headers: req.headers }, res));
  servers.push(s);
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  return (s.address() as AddressInfo).port;
}
afterEach(async () => {
  for (const s of servers.splice(0)) {
    s.closeAllConnections();
    await new Promise((r) => s.close(r));
  }
});

const httpGet = (value: Record<string, unknown>, ports: { name: string; containerPort: number }[] = []) => {
  const p = probe({ handler: { case: 'httpGet', value } });
  return { pod: podView([]), container: container({ ports }), probe: p };
};

describe('prober http probe', () => {
  const runner = new HttpProbe();

  it('http - 200-399 succeed, with the kubelet User-Agent and Accept, path and query kept', async () => {
    const seen: { url: string; headers: IncomingHttpHeaders }[] = [];
    const port = await serve((req, res) => {
      seen.push(req);
      res.end('ok');
    });
    expect(await runner.run(httpGet({ port, path: '/healthz?x=1' }), 1000)).toEqual({ result: 'success', output: 'ok' });
    expect(seen[0]?.url).toBe('/healthz?x=1');
    expect(seen[0]?.headers['user-agent']).toBe('kube-probe/1.36');
    expect(seen[0]?.headers['accept']).toBe('*/*');
    expect(seen[0]?.headers['host']).toBe(`127.0.0.1:${port}`);
  });

  it('http - a status of 400 or more fails in the kubelet words, without the body', async () => {
    const port = await serve((_req, res) => {
      res.statusCode = 500;
      res.end('secret body');
    });
    expect(await runner.run(httpGet({ port, path: '/' }), 1000)).toEqual({ result: 'failure', output: 'HTTP probe failed with statuscode: 500' });
  });

  it('http - httpHeaders are sent; a Host header sets the host, User-Agent and Accept can be overridden or removed', async () => {
    const seen: IncomingHttpHeaders[] = [];
    const port = await serve((req, res) => {
      seen.push(req.headers);
      res.end();
    });
    const headers = [
      { name: 'host', value: 'example.test' },
      { name: 'user-agent', value: 'mine' },
      { name: 'Accept', value: '' },
      { name: 'x-token', value: 'a' },
    ];
    expect((await runner.run(httpGet({ port, httpHeaders: headers }), 1000)).result).toBe('success');
    expect(seen[0]).toMatchObject({ host: 'example.test', 'user-agent': 'mine', 'x-token': 'a' });
    expect(seen[0]?.['accept']).toBeUndefined();
  });

  it('http - a named port is looked up in the container ports; an unknown name is a probe error', async () => {
    const port = await serve((_req, res) => res.end());
    expect((await runner.run(httpGet({ portName: 'web' }, [{ name: 'web', containerPort: port }]), 1000)).result).toBe('success');
    const err = await runner.run(httpGet({ portName: 'nope' }), 1000).catch((e: unknown) => e);
    expect(isProbeError(err)).toBe(true);
    expect((err as Error).message).toBe('strconv.Atoi: parsing "nope": invalid syntax');
  });

  it('http - connection refused is a failure in Go words', async () => {
    const port = await serve((_req, res) => res.end());
    servers[0]?.close();
    await new Promise((r) => setTimeout(r, 20));
    expect(await runner.run(httpGet({ port, path: '/h' }), 1000)).toEqual({
      result: 'failure',
      output: `Get "http://127.0.0.1:${port}/h": dial tcp 127.0.0.1:${port}: connect: connection refused`,
    });
  });

  it('http - a server that hangs fails at the timeout, not later', async () => {
    const port = await serve(() => undefined);
    const start = performance.now();
    const outcome = await runner.run(httpGet({ port, path: '/' }), 300);
    expect(performance.now() - start).toBeLessThan(600);
    expect(outcome).toEqual({ result: 'failure', output: `Get "http://127.0.0.1:${port}/": context deadline exceeded (Client.Timeout exceeded while awaiting headers)` });
  });

  it('http - same-host redirects are followed; a redirect to another host is a warning, not followed', async () => {
    let hits = 0;
    const port = await serve((req, res) => {
      hits++;
      if (req.url === '/a') res.writeHead(302, { location: '/b' }).end();
      else if (req.url === '/b') res.end('landed');
      else res.writeHead(301, { location: 'http://other.invalid/x' }).end('moved');
    });
    expect(await runner.run(httpGet({ port, path: '/a' }), 1000)).toEqual({ result: 'success', output: 'landed' });
    expect(hits).toBe(2);
    expect(await runner.run(httpGet({ port, path: '/elsewhere' }), 1000)).toEqual({ result: 'warning', output: 'Probe terminated redirects, Response body: moved' });
    expect(hits).toBe(3);
  });

  it('http - a redirect loop fails after 10 requests', async () => {
    let hits = 0;
    const port = await serve((_req, res) => {
      hits++;
      res.writeHead(302, { location: `/loop${hits}` }).end();
    });
    const outcome = await runner.run(httpGet({ port, path: '/' }), 2000);
    expect(hits).toBe(10);
    expect(outcome).toEqual({ result: 'failure', output: `Get "http://127.0.0.1:${port}/loop10": stopped after 10 redirects` });
  });

  it('http - HTTPS does not verify the certificate', async () => {
    const [key, cert] = [TEST_KEY, TEST_CERT];
    const s = createTlsServer({ key, cert }, (_req, res) => res.end('tls'));
    servers.push(s);
    await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
    const port = (s.address() as AddressInfo).port;
    expect(await runner.run(httpGet({ port, scheme: 'HTTPS' }), 1000)).toEqual({ result: 'success', output: 'tls' });
  });

  it('http - keeps at most 10 KiB of a body', async () => {
    const port = await serve((_req, res) => res.end('x'.repeat(50_000)));
    expect((await runner.run(httpGet({ port }), 1000)).output).toHaveLength(10 * 1024);
  });

  it('http - a server that closes without answering fails with EOF', async () => {
    const port = await serve((_req, res) => res.socket?.destroy());
    expect(await runner.run(httpGet({ port, path: '/' }), 1000)).toEqual({ result: 'failure', output: `Get "http://127.0.0.1:${port}/": EOF` });
  });

  it('http - a body that stalls past the timeout is a probe error (the kubelet throws the result away)', async () => {
    const port = await serve((_req, res) => {
      res.writeHead(200);
      res.write('partial');
    });
    const err = await runner.run(httpGet({ port, path: '/' }), 300).catch((e: unknown) => e);
    expect(isProbeError(err)).toBe(true);
    expect((err as Error).message).toBe(`Get "http://127.0.0.1:${port}/": net/http: request canceled (Client.Timeout or context cancellation while reading body)`);
  });

  it('http - a timeout past setTimeout\'s longest waits for the answer (it fired after 1 ms: a probe failing at once)', async () => {
    const port = await serve((_req, res) => void setTimeout(() => res.end('late'), 50));
    expect(await runner.run(httpGet({ port }), 30 * 86_400_000)).toEqual({ result: 'success', output: 'late' });
  });
});
