import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { KubeConfig } from '@kubernetes/client-node';
import { createLogger } from '@splitlet/telemetry';
import { PodInformer } from './pod-informer';

// An API server stand-in for the informer's restart logic only: the first list
// fails, later lists succeed; watches stay open. (The real API server is in e2e.)
function fakeApiServer() {
  const requests: string[] = [];
  let lists = 0;
  const server: Server = createServer((req: IncomingMessage, res: ServerResponse) => {
    requests.push(req.url ?? '');
    const url = new URL(req.url ?? '/', 'http://x');
    if (url.searchParams.get('watch') === 'true') {
      res.writeHead(200, { 'content-type': 'application/json' });
      return; // an open watch with no events
    }
    if (lists++ === 0) {
      res.writeHead(500, { 'content-type': 'application/json' }).end('{"kind":"Status","code":500}');
      return;
    }
    const pod = { metadata: { name: 'web', namespace: 'default', uid: 'u1', resourceVersion: '5' }, spec: { nodeName: 'node-1' } };
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ kind: 'PodList', metadata: { resourceVersion: '5' }, items: [pod] }));
  });
  return { server, requests };
}

describe('kube PodInformer', () => {
  let server: Server | undefined;
  let informer: PodInformer | undefined;
  afterEach(async () => {
    informer?.stop();
    server?.closeAllConnections();
    await new Promise((r) => server?.close(r));
  });

  it('PodInformer - lists only the node\'s pods and restarts after a failed list', async () => {
    const fake = fakeApiServer();
    server = fake.server;
    await new Promise<void>((r) => fake.server.listen(0, '127.0.0.1', r));
    const kc = new KubeConfig();
    kc.loadFromOptions({
      clusters: [{ name: 'c', server: `http://127.0.0.1:${(fake.server.address() as AddressInfo).port}`, skipTLSVerify: true }],
      users: [{ name: 'u' }],
      contexts: [{ name: 'x', cluster: 'c', user: 'u' }],
      currentContext: 'x',
    });
    const seen: string[] = [];
    informer = new PodInformer(
      { kubeConfig: kc, nodeName: 'node-1', logger: createLogger('t', { level: 'silent' }), backoff: { initialMs: 20, maxMs: 100 } },
      { onUpsert: (p) => seen.push(p.metadata?.name ?? ''), onDelete: () => undefined },
    );
    expect(informer.hasSynced).toBe(false);
    await informer.start();
    expect(informer.hasSynced).toBe(true);
    expect(seen).toEqual(['web']);
    expect(informer.list().map((p) => p.metadata?.uid)).toEqual(['u1']);
    const lists = fake.requests.filter((r) => !r.includes('watch=true'));
    expect(lists).toHaveLength(2); // the failed one, then the one that filled the cache
    for (const r of fake.requests) expect(r).toContain(`fieldSelector=${encodeURIComponent('spec.nodeName=node-1')}`);
  });

  it('PodInformer - after a run of failed watches, a watch that then stays up for resetAfterMs resets the back-off', async () => {
    // Lists succeed; the next `failures` watches answer 500, the others stay open.
    let failures = 4;
    const fake = createServer((req, res) => {
      if (new URL(req.url ?? '/', 'http://x').searchParams.get('watch') !== 'true') {
        res.writeHead(200, { 'content-type': 'application/json' }).end('{"kind":"PodList","metadata":{"resourceVersion":"5"},"items":[]}');
      } else if (failures > 0) {
        failures--;
        res.writeHead(500, { 'content-type': 'application/json' }).end('{"kind":"Status","code":500}');
      } else res.writeHead(200, { 'content-type': 'application/json' }).flushHeaders();
    });
    server = fake;
    await new Promise<void>((r) => fake.listen(0, '127.0.0.1', r));
    const kc = new KubeConfig();
    kc.loadFromOptions({
      clusters: [{ name: 'c', server: `http://127.0.0.1:${(fake.address() as AddressInfo).port}`, skipTLSVerify: true }],
      users: [{ name: 'u' }],
      contexts: [{ name: 'x', cluster: 'c', user: 'u' }],
      currentContext: 'x',
    });
    const delays: number[] = [];
    const logger = createLogger('t', { level: 'warn', destination: { write: (line: string) => void delays.push(JSON.parse(line).retryInMs as number) } });
    informer = new PodInformer({ kubeConfig: kc, nodeName: 'node-1', logger, backoff: { initialMs: 20, maxMs: 200, resetAfterMs: 1000 } }, { onUpsert: () => undefined, onDelete: () => undefined });
    await informer.start();
    await expect.poll(() => delays.length, { timeout: 5000 }).toBe(4);
    expect(delays).toEqual([20, 40, 80, 160]);
    // The watch is up again (a restart from the last resourceVersion: no list). Quiet for longer than resetAfterMs.
    await new Promise((r) => setTimeout(r, 1500));
    expect(delays).toHaveLength(4);
    // A blip: the watch is cut — the back-off starts over...
    fake.closeAllConnections();
    await expect.poll(() => delays.length, { timeout: 5000 }).toBe(5);
    expect(delays[4]).toBe(20);
    // ...and goes on from there for a blip soon after.
    await new Promise((r) => setTimeout(r, 100));
    fake.closeAllConnections();
    await expect.poll(() => delays.length, { timeout: 5000 }).toBe(6);
    expect(delays[5]).toBe(40);
  });
});
