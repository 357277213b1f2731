import { createServer, type Server } from 'node:net';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { MAX_TIMER_MS } from '@splitlet/bus';
import { container, podView, probe } from '../__fixtures__/views';
import { TcpProbe } from './tcp';

const servers: Server[] = [];
afterEach(async () => {
  for (const s of servers.splice(0)) await new Promise((r) => s.close(r));
});
async function listen(): Promise<number> {
  const s = createServer((sock) => sock.end());
  servers.push(s);
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  return (s.address() as AddressInfo).port;
}
const target = (value: Record<string, unknown>, podIp = '127.0.0.1') => ({
  pod: podView([], { podIp }),
  container: container({ ports: [{ name: 'db', containerPort: 1 }] }),
  probe: probe({ handler: { case: 'tcpSocket', value } }),
});

describe('prober tcp probe', () => {
  const runner = new TcpProbe();

  it('tcp - a listening port succeeds', async () => {
    const port = await listen();
    expect(await runner.run(target({ port }), 1000)).toEqual({ result: 'success', output: '' });
  });

  it('tcp - a closed port fails with Go dial text', async () => {
    const port = await listen();
    await new Promise((r) => servers.pop()?.close(r));
    expect(await runner.run(target({ port }), 1000)).toEqual({ result: 'failure', output: `dial tcp 127.0.0.1:${port}: connect: connection refused` });
  });

  it('tcp - a prober whose event loop was held past the timeout reports the refusal that came meanwhile, not a timeout', async () => {
    const port = await listen();
    await new Promise((r) => servers.pop()?.close(r));
    const outcome = runner.run(target({ port }), 20);
    const until = Date.now() + 200;
    while (Date.now() < until); // a starved process: the timer is due when the loop runs again
    expect(await outcome).toEqual({ result: 'failure', output: `dial tcp 127.0.0.1:${port}: connect: connection refused` });
  });

  it('tcp - the host defaults to the pod IP; a named port comes from the container', async () => {
    expect(await runner.run(target({ portName: 'db' }, '127.0.0.1'), 1000)).toEqual({ result: 'failure', output: 'dial tcp 127.0.0.1:1: connect: connection refused' });
  });

  it('tcp - a timeout past setTimeout\'s longest arms a timer Node can wait (a longer one fired after 1 ms: an i/o timeout at once)', async () => {
    const port = await listen();
    const timers = vi.spyOn(globalThis, 'setTimeout');
    try {
      await runner.run(target({ port }), 30 * 86_400_000);
      const delays = timers.mock.calls.map((c) => Number(c[1] ?? 0));
      expect(delays.length).toBeGreaterThan(0);
      expect(Math.max(...delays)).toBeLessThanOrEqual(MAX_TIMER_MS);
    } finally {
      timers.mockRestore();
    }
  });
});
