import { connect } from 'node:http2';
import { request } from 'node:https';
import type { AddressInfo } from 'node:net';
import type { V1Pod } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ServiceClient } from '@splitlet/bus';
import type { ContainerLogService } from '@splitlet/contracts';
import { createLogger } from '@splitlet/telemetry';
import { FakeClock } from '@splitlet/testing';
import { testCA, type Issued } from './__fixtures__/pki';
import type { RequestAttributes } from './auth/attributes';
import { RequestAuthenticator } from './auth/authenticator';
import { RequestAuthorizer } from './auth/authorizer';
import type { UserInfo } from './auth/user';
import { serveContainerLogs, type PodSource } from './logs/container-logs';
import { serveHealthz, servePods } from './pods';
import { createKubeletServer, type Route } from './server';

const waitingPod: V1Pod = {
  metadata: { name: 'web', namespace: 'ns', creationTimestamp: new Date(Date.UTC(2026, 0, 1)) },
  spec: { containers: [{ name: 'app', image: 'x' }] },
  status: { containerStatuses: [{ name: 'app', ready: false, restartCount: 0, image: 'x', imageID: '', state: { waiting: { reason: 'ContainerCreating' } } }] },
};

/** What the fake API server was asked and answers. */
const reviewed: { attrs: RequestAttributes[]; users: UserInfo[] } = { attrs: [], users: [] };
const allowedUsers = new Set(['admin', 'system:serviceaccount:ns:reader']);

let port = 0;
let ca: { cert: string; issue: (s: string, u: 'server' | 'client', san?: string) => Promise<Issued> };
let adminCert: Issued;
let strangerCert: Issued;
let serverCert: Issued;
const server = await (async () => {
  ca = await testCA();
  serverCert = await ca.issue('CN=node', 'server', '127.0.0.1');
  adminCert = await ca.issue('O=system:masters, CN=admin', 'client');
  strangerCert = await (await testCA('other-ca')).issue('CN=admin', 'client');
  const clock = new FakeClock();
  const pods: PodSource = { get: (ns, name) => (ns === 'ns' && name === 'web' ? waitingPod : undefined), list: () => [waitingPod] };
  const authenticator = new RequestAuthenticator(async (token) => (token === 'good-token' ? { authenticated: true, user: { username: 'system:serviceaccount:ns:reader', groups: ['system:serviceaccounts'] } } : token === 'nobody-token' ? { authenticated: true, user: { username: 'system:serviceaccount:ns:nobody' } } : token === 'pods-token' ? { authenticated: true, user: { username: 'pods-reader' } } : { authenticated: false }), clock);
  const authorizer = new RequestAuthorizer(async (user, attrs) => {
    reviewed.attrs.push(attrs);
    reviewed.users.push(user);
    return allowedUsers.has(user.username) || (user.username === 'pods-reader' && attrs.subresource === 'pods');
  }, clock);
  const logger = createLogger('node-api', { level: 'silent' });
  const deps = { pods, logs: {} as ServiceClient<typeof ContainerLogService>, nc: undefined as never, nodeName: 'node-a', clock, logger };
  const routes: Route[] = [
    { method: 'GET', path: /^\/healthz$/, handle: async (_q, res) => serveHealthz(res) },
    { method: 'GET', path: /^\/pods\/?$/, handle: async (_q, res) => servePods(pods, res) },
    { method: 'GET', path: /^\/containerLogs\/([^/]+)\/([^/]+)\/([^/]+)$/, handle: (q, res, url, p) => serveContainerLogs(deps, q, res, url, p) },
  ];
  return createKubeletServer({ ...serverCert, clientCA: ca.cert }, { nodeName: 'node-a', authenticator, authorizer, routes, logger });
})();

beforeAll(async () => {
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  port = (server.address() as AddressInfo).port;
});
afterAll(() => {
  server.close();
  server.closeAllConnections();
});

function get(path: string, opts: { client?: Issued; token?: string; method?: string } = {}): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(
      { host: '127.0.0.1', port, path, method: opts.method ?? 'GET', ca: ca.cert, ...(opts.client ?? {}), headers: opts.token ? { authorization: `Bearer ${opts.token}` } : {} },
      (res) => {
        let body = '';
        res.on('data', (d: Buffer) => (body += d.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      },
    );
    req.on('error', reject);
    req.end();
  });
}

describe('kubelet server', () => {
  it('kubelet server - refuses a request without credentials with 401 Unauthorized', async () => {
    expect(await get('/healthz')).toEqual({ status: 401, body: 'Unauthorized' });
  });

  it('kubelet server - refuses a client certificate of another CA and a token the API server does not know', async () => {
    expect((await get('/healthz', { client: strangerCert })).status).toBe(401);
    expect((await get('/healthz', { token: 'forged' })).status).toBe(401);
  });

  it('kubelet server - speaks HTTP/2 to a client that offers it (the API server\'s GETs), with the same client-certificate user and refusals', async () => {
    const h2get = (path: string, client?: Issued) =>
      new Promise<{ status: number; body: string; alpn: string | false | undefined }>((resolve, reject) => {
        const session = connect(`https://127.0.0.1:${port}`, { ca: ca.cert, ...(client ?? {}) });
        session.on('error', reject);
        const req = session.request({ ':path': path });
        let status = 0;
        let body = '';
        req.on('response', (h) => (status = Number(h[':status'])));
        req.on('data', (d: Buffer) => (body += d.toString()));
        req.on('end', () => {
          resolve({ status, body, alpn: session.alpnProtocol });
          session.close();
        });
        req.on('error', reject);
      });
    expect(await h2get('/healthz', adminCert)).toEqual({ status: 200, body: 'ok', alpn: 'h2' });
    expect(reviewed.users.at(-1)?.username).toBe('admin');
    expect(await h2get('/healthz')).toEqual({ status: 401, body: 'Unauthorized', alpn: 'h2' });
    expect((await h2get('/healthz', strangerCert)).status).toBe(401);
  });

  it('kubelet server - takes the user and groups from a verified client certificate', async () => {
    expect(await get('/healthz', { client: adminCert })).toEqual({ status: 200, body: 'ok' });
    expect(reviewed.users.at(-1)).toEqual({ username: 'admin', uid: '', groups: ['system:masters'], extra: {} });
    expect(reviewed.attrs.at(-1)).toEqual({ verb: 'get', resource: 'nodes', subresource: 'healthz', name: 'node-a' });
  });

  it('kubelet server - authenticates a bearer token through the token review', async () => {
    expect((await get('/healthz', { token: 'good-token' })).status).toBe(200);
    expect(reviewed.users.at(-1)?.username).toBe('system:serviceaccount:ns:reader');
  });

  it('kubelet server - answers 403 in the kubelet\'s words when the access review denies', async () => {
    expect(await get('/containerLogs/ns/web/app', { token: 'nobody-token' })).toEqual({
      status: 403,
      body: 'Forbidden (user=system:serviceaccount:ns:nobody, verb=get, resource=nodes, subresource(s)=[proxy])\n',
    });
    expect(await get('/stats/summary', { token: 'nobody-token' })).toEqual({
      status: 403,
      body: 'Forbidden (user=system:serviceaccount:ns:nobody, verb=get, resource=nodes, subresource(s)=[stats])\n',
    });
  });

  it('kubelet server - lets nodes/pods alone read /pods (fine-grained authorization), and names both subresources when denied', async () => {
    expect((await get('/pods', { token: 'pods-token' })).status).toBe(200);
    expect((await get('/containerLogs/ns/web/app', { token: 'pods-token' })).status).toBe(403);
    expect(await get('/pods', { token: 'nobody-token' })).toEqual({
      status: 403,
      body: 'Forbidden (user=system:serviceaccount:ns:nobody, verb=get, resource=nodes, subresource(s)=[pods proxy])\n',
    });
  });

  it('kubelet server - lists the node\'s pods as a v1 PodList', async () => {
    const r = await get('/pods', { client: adminCert });
    expect(r.status).toBe(200);
    const list = JSON.parse(r.body) as { kind: string; apiVersion: string; items: V1Pod[] };
    expect(list).toMatchObject({ kind: 'PodList', apiVersion: 'v1' });
    expect(list.items.map((p) => p.metadata?.name)).toEqual(['web']);
    expect((list.items[0]!.metadata as Record<string, unknown>)['creationTimestamp']).toBe('2026-01-01T00:00:00Z');
  });

  it('kubelet server - answers an unknown pod, container or path with 404 in the kubelet\'s words', async () => {
    expect(await get('/containerLogs/ns/nope/app', { client: adminCert })).toEqual({ status: 404, body: 'pod "nope" does not exist' });
    expect(await get('/containerLogs/ns/web/nope', { client: adminCert })).toEqual({ status: 404, body: 'container "nope" not found in pod "web"' });
    expect(await get('/nothing/here', { client: adminCert })).toEqual({ status: 404, body: '404 page not found' });
  });

  it('kubelet server - refuses the log of a container that has not started, with the kubelet\'s message', async () => {
    expect(await get('/containerLogs/ns/web/app', { client: adminCert })).toEqual({ status: 400, body: 'container "app" in pod "web" is waiting to start: ContainerCreating' });
    expect(await get('/containerLogs/ns/web/app?tailLines=-1', { client: adminCert })).toEqual({ status: 422, body: '{"message": "Invalid request."}' });
  });
});
