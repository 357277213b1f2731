import type { AddressInfo } from 'node:net';
import { connect, type TLSSocket } from 'node:tls';
import type { V1Pod } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execStreamSubject, type ServiceClient } from '@splitlet/bus';
import { create, ExecStreamOp, ExecStreamRequestSchema, ExecStreamResponseSchema, fromBinary, toBinary, type ExecStreamRequest, type ExecStreamService, type OpenExecRequest } from '@splitlet/contracts';
import { createLogger } from '@splitlet/telemetry';
import { FakeClock, useNatsServer, waitFor } from '@splitlet/testing';
import { testCA, type Issued } from '../__fixtures__/pki';
import { SpdyTestClient } from '../__fixtures__/spdy-client';
import { dialChannels, type ChannelTestClient } from '../__fixtures__/ws-client';
import { RequestAuthenticator } from '../auth/authenticator';
import { RequestAuthorizer } from '../auth/authorizer';
import type { PodSource } from '../logs/container-logs';
import { createKubeletServer, type Route } from '../server';
import { servePortForward } from '../portforward/port-forward';
import { serveAttach, serveExec, serveExecWithoutUpgrade } from './exec';

const nats = useNatsServer();
const runningPod: V1Pod = {
  metadata: { name: 'web', namespace: 'ns', uid: 'uid-1' },
  spec: { containers: [{ name: 'app', image: 'x' }] },
  status: { containerStatuses: [{ name: 'app', ready: true, restartCount: 0, image: 'x', imageID: '', containerID: 'docker://c1', state: { running: {} } }] },
};
const pods: PodSource = { get: (ns, name) => (ns === 'ns' && name === 'web' ? runningPod : undefined), list: () => [runningPod] };

/** runtime-executor's side: OpenExec answers stream "x<n>"; each exec's ops are recorded and answered by `script`. */
const opened: OpenExecRequest[] = [];
const ops: ExecStreamRequest[][] = [];
let script: (req: ExecStreamRequest, seen: ExecStreamRequest[]) => Promise<Parameters<typeof create<typeof ExecStreamResponseSchema>>[1]> = async () => ({});
/** While set, OpenExec waits for it (an executor that is slow to start the exec). */
let openGate: Promise<void> | undefined;
const execClient = {
  openExec: async (req: OpenExecRequest) => {
    opened.push(req);
    // Named before waiting: execs opened at once (a WebSocket port-forward's ports) get ids of their own.
    const id = `x${opened.length}`;
    await openGate;
    const seen: ExecStreamRequest[] = [];
    ops.push(seen);
    nats.nc.subscribe(execStreamSubject('node-a', id), {
      callback: (_e, msg) => {
        const r = fromBinary(ExecStreamRequestSchema, msg.data);
        seen.push(r);
        void script(r, seen).then((a) => msg.respond(toBinary(ExecStreamResponseSchema, create(ExecStreamResponseSchema, a))));
      },
    });
    return { streamId: id };
  },
  openAttach: async (req: OpenExecRequest) => {
    attaches.push(req);
    return execClient.openExec({ ...req, cmd: ['<attach>'] } as OpenExecRequest);
  },
  openPortForward: async (req: { podUid: string; port: number }) => {
    forwards.push(req);
    if (req.port === 81) throw new Error('no running pod sandbox');
    return execClient.openExec({ containerId: 'pf', cmd: [String(req.port)], stdin: true, stdout: true } as OpenExecRequest);
  },
} as unknown as ServiceClient<typeof ExecStreamService> & { openExec(r: OpenExecRequest): Promise<{ streamId: string }> };
const forwards: { podUid: string; port: number }[] = [];
const attaches: unknown[] = [];

let port = 0;
let admin: Issued;
/** A client certificate the authorizer refuses. */
let bob: Issued;
let caCert = '';
let server: ReturnType<typeof createKubeletServer>;
beforeAll(async () => {
  const ca = await testCA();
  caCert = ca.cert;
  const serving = await ca.issue('CN=node', 'server', '127.0.0.1');
  admin = await ca.issue('O=system:masters, CN=admin', 'client');
  bob = await ca.issue('CN=bob', 'client');
  const clock = new FakeClock();
  const logger = createLogger('node-api', { level: 'silent' });
  const deps = { pods, exec: execClient, nc: nats.nc, nodeName: 'node-a', logger, streamCreationTimeoutMs: 300 };
  const routes: Route[] = [
    { method: ['GET', 'POST'], path: /^\/portForward\/([^/]+)\/([^/]+)$/, handle: async () => undefined, upgrade: (q, s, h, u, p) => servePortForward(deps, q, s, h, u, p) },
    { method: ['GET', 'POST'], path: /^\/attach\/([^/]+)\/([^/]+)\/([^/]+)$/, handle: async () => undefined, upgrade: (q, s, h, u, p) => serveAttach(deps, q, s, h, u, p) },
    { method: ['GET', 'POST'], path: /^\/exec\/([^/]+)\/([^/]+)\/([^/]+)$/, handle: (q, res, u, p) => serveExecWithoutUpgrade(deps, q, res, u, p), upgrade: (q, s, h, u, p) => serveExec(deps, q, s, h, u, p) },
  ];
  server = createKubeletServer(
    { ...serving, clientCA: ca.cert },
    { nodeName: 'node-a', authenticator: new RequestAuthenticator(async () => ({ authenticated: false }), clock), authorizer: new RequestAuthorizer(async (u) => u.username === 'admin', clock), routes, logger },
  );
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  port = (server.address() as AddressInfo).port;
});
afterAll(() => {
  server?.close();
  server?.closeAllConnections();
});

/** An upgrade request as the API server sends it; the status line and, after a 101, a SPDY client on the socket. */
async function upgrade(path: string, protocols = 'v4.channel.k8s.io,v3.channel.k8s.io'): Promise<{ status: number; head: string; socket: TLSSocket; spdy?: SpdyTestClient }> {
  const socket = connect({ host: '127.0.0.1', port, ca: caCert, cert: admin.cert, key: admin.key, checkServerIdentity: () => undefined });
  await new Promise<void>((r) => socket.once('secureConnect', () => r()));
  socket.write(`POST ${path} HTTP/1.1\r\nHost: node\r\nConnection: Upgrade\r\nUpgrade: SPDY/3.1\r\n${protocols ? `X-Stream-Protocol-Version: ${protocols}\r\n` : ''}Content-Length: 0\r\n\r\n`);
  let buf = Buffer.alloc(0);
  for (;;) {
    const chunk = await new Promise<Buffer | undefined>((r) => {
      socket.once('data', r);
      socket.once('close', () => r(undefined));
    });
    if (!chunk) break;
    buf = Buffer.concat([buf, chunk]);
    const end = buf.indexOf('\r\n\r\n');
    if (end < 0) continue;
    const head = buf.subarray(0, end).toString();
    const status = Number(head.split(' ')[1]);
    if (status !== 101) {
      await new Promise((r) => socket.once('close', r));
      return { status, head, socket };
    }
    socket.pause();
    const spdy = new SpdyTestClient(socket);
    if (buf.length > end + 4) socket.unshift(buf.subarray(end + 4));
    socket.resume();
    return { status, head, socket, spdy };
  }
  return { status: 0, head: buf.toString(), socket };
}

describe('attach over SPDY', () => {
  it('serveAttach - the container\'s output and stdin; its end is Success whatever the exit code; an unknown container is the kubelet\'s 500', async () => {
    script = async (req, seen) => {
      if (req.op !== ExecStreamOp.READ) return {};
      if (seen.filter((r) => r.op === ExecStreamOp.READ).length === 1) return { stdout: Buffer.from('log line\n') };
      await waitFor('stdin written', async () => (seen.some((r) => r.op === ExecStreamOp.WRITE_STDIN) ? true : undefined), 5_000, 10);
      return { exited: true, exitCode: 0 };
    };
    const u = await upgrade('/attach/ns/web/app?input=1&output=1&error=1');
    expect(u.status).toBe(101);
    const c = u.spdy!;
    await c.open(1, { streamType: 'error' });
    await c.open(3, { streamType: 'stdin' });
    await c.open(5, { streamType: 'stdout' });
    await c.open(7, { streamType: 'stderr' });
    c.send(3, 'typed\n');
    await c.until('the error stream finished', () => c.finished(1) || undefined);
    expect(attaches.at(-1)).toMatchObject({ containerId: 'c1', stdin: true, stdout: true, stderr: true });
    expect(c.received(5)).toBe('log line\n');
    expect(Buffer.concat(ops.at(-1)!.filter((r) => r.op === ExecStreamOp.WRITE_STDIN).map((r) => Buffer.from(r.stdin))).toString()).toBe('typed\n');
    expect(JSON.parse(c.received(1))).toEqual({ metadata: {}, status: 'Success' });

    const missing = await upgrade('/attach/ns/web/sidecar?output=1');
    expect([missing.status, missing.head.split('\r\n')[0]]).toEqual([500, 'HTTP/1.1 500 Internal Server Error']);
  });
});

describe('exec over SPDY', () => {
  it('serveExec - v4: stdin reaches the exec and its end is passed on; stdout and stderr apart; the exit code as a metav1.Status', async () => {
    script = async (req, seen) => {
      if (req.op !== ExecStreamOp.READ) return {};
      if (seen.filter((r) => r.op === ExecStreamOp.READ).length === 1) return { stdout: Buffer.from('out\n'), stderr: Buffer.from('err\n') };
      await waitFor('stdin closed', async () => (seen.some((r) => r.op === ExecStreamOp.CLOSE_STDIN) ? true : undefined), 5_000, 10);
      return { exited: true, exitCode: 3 };
    };
    const u = await upgrade('/exec/ns/web/app?command=sh&command=-c&command=cat&input=1&output=1&error=1');
    expect(u.status).toBe(101);
    expect(u.head).toContain('X-Stream-Protocol-Version: v4.channel.k8s.io');
    const c = u.spdy!;
    await c.open(1, { streamType: 'error' });
    await c.open(3, { streamType: 'stdin' });
    await c.open(5, { streamType: 'stdout' });
    await c.open(7, { streamType: 'stderr' });
    c.send(3, 'hello ');
    c.send(3, 'world', true);
    await c.until('the error stream finished', () => c.finished(1) || undefined);
    expect(c.received(5)).toBe('out\n');
    expect(c.received(7)).toBe('err\n');
    expect(c.finished(5) && c.finished(7)).toBe(true);
    expect(JSON.parse(c.received(1))).toEqual({
      metadata: {},
      status: 'Failure',
      message: 'command terminated with non-zero exit code: error executing command [sh -c cat], exit code 3',
      reason: 'NonZeroExitCode',
      details: { causes: [{ reason: 'ExitCode', message: '3' }] },
    });
    expect(opened.at(-1)).toMatchObject({ containerId: 'c1', cmd: ['sh', '-c', 'cat'], stdin: true, stdout: true, stderr: true, tty: false });
    const seen = ops.at(-1)!;
    expect(Buffer.concat(seen.filter((r) => r.op === ExecStreamOp.WRITE_STDIN).map((r) => r.stdin)).toString()).toBe('hello world');
    u.socket.destroy();
  });

  it('serveExec - v3 with a terminal: the first size opens the exec, later ones resize it; success writes nothing on the error stream', async () => {
    script = async (req, seen) => {
      if (req.op !== ExecStreamOp.READ) return {};
      await waitFor('a resize', async () => (seen.some((r) => r.op === ExecStreamOp.RESIZE) ? true : undefined), 5_000, 10);
      return { stdout: Buffer.from('$ '), exited: true, exitCode: 0 };
    };
    const u = await upgrade('/exec/ns/web/app?command=sh&output=1&tty=1&error=1', 'v3.channel.k8s.io');
    const c = u.spdy!;
    await c.open(1, { streamType: 'error' });
    await c.open(3, { streamType: 'stdout' });
    await c.open(5, { streamType: 'resize' });
    c.send(5, '{"Width":100,"Height":30}\n{"Wid');
    await waitFor('the exec opened', async () => (opened.at(-1)?.tty ? true : undefined), 5_000, 10);
    c.send(5, 'th":120,"Height":40}\n');
    await c.until('the error stream finished', () => c.finished(1) || undefined);
    expect(c.received(3)).toBe('$ ');
    expect(c.received(1)).toBe('');
    expect(opened.at(-1)).toMatchObject({ tty: true, stderr: false, size: { width: 100, height: 30 } });
    expect(ops.at(-1)!.find((r) => r.op === ExecStreamOp.RESIZE)?.size).toMatchObject({ width: 120, height: 40 });
    u.socket.destroy();
  });

  it('serveExec - junk on the resize stream ends the resizes only: what else comes on it is dropped and stdin still reaches the exec', async () => {
    script = async (req, seen) => {
      if (req.op !== ExecStreamOp.READ) return {};
      await waitFor('stdin closed', async () => (seen.some((r) => r.op === ExecStreamOp.CLOSE_STDIN) ? true : undefined), 10_000, 10);
      return { exited: true, exitCode: 0 };
    };
    const u = await upgrade('/exec/ns/web/app?command=sh&input=1&output=1&tty=1&error=1', 'v4.channel.k8s.io');
    const c = u.spdy!;
    await c.open(1, { streamType: 'error' });
    await c.open(3, { streamType: 'stdin' });
    await c.open(5, { streamType: 'stdout' });
    await c.open(7, { streamType: 'resize' });
    c.send(7, '{"Width":100,"Height":30}\n');
    await waitFor('the exec opened', async () => (opened.at(-1)?.tty ? true : undefined), 5_000, 10);
    // Not a stream of small JSON objects, and far more than any buffer on the way holds.
    for (let i = 0; i < 64; i++) c.send(7, 'x'.repeat(16 * 1024));
    c.send(3, 'hello', true);
    await c.until('the error stream finished', () => c.finished(1) || undefined);
    expect(Buffer.concat(ops.at(-1)!.filter((r) => r.op === ExecStreamOp.WRITE_STDIN).map((r) => r.stdin)).toString()).toBe('hello');
    u.socket.destroy();
  });

  it('serveExec - a client that goes away closes the exec at once', async () => {
    script = async (req) => {
      if (req.op === ExecStreamOp.READ) await new Promise((r) => setTimeout(r, 200));
      return {};
    };
    const before = opened.length;
    const u = await upgrade('/exec/ns/web/app?command=sleep&output=1');
    const c = u.spdy!;
    await c.open(1, { streamType: 'error' });
    await c.open(3, { streamType: 'stdout' });
    await waitFor('reads going on', async () => (ops.length > before && ops.at(-1)!.length ? true : undefined), 5_000, 10);
    const gone = Date.now();
    u.socket.destroy();
    await waitFor('CLOSE sent', async () => (ops[before]!.some((r) => r.op === ExecStreamOp.CLOSE) ? true : undefined), 2_000, 10);
    expect(Date.now() - gone).toBeLessThan(1_000);
  });

  it('serveExec - a client that goes away while the exec is being opened still has it closed', async () => {
    const before = opened.length;
    script = async () => ({});
    let release = () => undefined as void;
    openGate = new Promise<void>((r) => (release = r));
    const u = await upgrade('/exec/ns/web/app?command=sleep&output=1');
    const c = u.spdy!;
    await c.open(1, { streamType: 'error' });
    await c.open(3, { streamType: 'stdout' });
    await waitFor('the exec being opened', async () => (opened.length > before ? true : undefined), 5_000, 10);
    u.socket.destroy();
    await new Promise((r) => setTimeout(r, 100));
    openGate = undefined;
    release();
    await waitFor('CLOSE sent', async () => (ops[before]?.some((r) => r.op === ExecStreamOp.CLOSE) ? true : undefined), 2_000, 10);
  });

  it('serveExec - a client that does not create its streams in time is dropped; no exec is opened', async () => {
    const before = opened.length;
    const u = await upgrade('/exec/ns/web/app?command=true&output=1&error=1');
    await u.spdy!.open(1, { streamType: 'error' });
    await new Promise<void>((r) => (u.socket.destroyed ? r() : u.socket.once('close', () => r())));
    expect(opened.length).toBe(before);
  });

  it('serveExec - refuses as the kubelet: no stream asked 400, unknown pod 404, a container not running 500, no common protocol 403, no upgrade 400', async () => {
    expect((await upgrade('/exec/ns/web/app?command=true')).status).toBe(400);
    expect((await upgrade('/exec/ns/nope/app?command=true&output=1')).status).toBe(404);
    expect((await upgrade('/exec/ns/web/nope?command=true&output=1')).status).toBe(500);
    const refused = await upgrade('/exec/ns/web/app?command=true&output=1', 'v9.channel.k8s.io');
    expect(refused.status).toBe(403);
    expect(refused.head).toContain('X-Accepted-Stream-Protocol-Versions: v4.channel.k8s.io, v3.channel.k8s.io, v2.channel.k8s.io, channel.k8s.io');
    expect((await upgrade('/exec/ns/web/app?command=true&output=1', '')).status).toBe(400);
  });

});

describe('port-forward over SPDY', () => {
  it('servePortForward - pairs data and error streams by requestID, one connection each, bytes both ways and FIN at the end', async () => {
    script = async (req, seen) => {
      if (req.op !== ExecStreamOp.READ) return {};
      await waitFor('the request and its end', async () => (seen.some((r) => r.op === ExecStreamOp.CLOSE_STDIN) ? true : undefined), 5_000, 10);
      const sent = Buffer.concat(seen.filter((r) => r.op === ExecStreamOp.WRITE_STDIN).map((r) => r.stdin)).toString();
      return { stdout: Buffer.from(`echo:${sent}`), exited: true, exitCode: 0 };
    };
    const u = await upgrade('/portForward/ns/web', 'portforward.k8s.io');
    expect(u.status).toBe(101);
    const c = u.spdy!;
    await c.open(1, { streamType: 'error', port: '8080', requestID: '0' }, true);
    await c.open(3, { streamType: 'data', port: '8080', requestID: '0' });
    await c.open(5, { streamType: 'error', port: '9090', requestID: '1' }, true);
    await c.open(7, { streamType: 'data', port: '9090', requestID: '1' });
    c.send(3, 'a', true);
    c.send(7, 'b', true);
    await c.until('both data streams finished', () => (c.finished(3) && c.finished(7)) || undefined);
    expect([c.received(3), c.received(7), c.received(1), c.received(5)]).toEqual(['echo:a', 'echo:b', '', '']);
    expect(forwards.slice(-2).map((f) => f.port).sort()).toEqual([8080, 9090]);
    expect(forwards.at(-1)!.podUid).toBe('uid-1');
    u.socket.destroy();
  });

  it('servePortForward - a failed connection writes the kubelet\'s words on its error stream; a bad port and a lone stream are refused', async () => {
    const u = await upgrade('/portForward/ns/web', 'portforward.k8s.io');
    const c = u.spdy!;
    await c.open(1, { streamType: 'error', port: '81', requestID: '0' }, true);
    await c.open(3, { streamType: 'data', port: '81', requestID: '0' });
    await c.until('the error', () => c.finished(1) || undefined);
    expect(c.received(1)).toBe('error forwarding port 81 to pod uid-1, uid : no running pod sandbox');
    await c.open(5, { streamType: 'error', port: 'http', requestID: '1' }, true);
    await c.open(7, { streamType: 'data', port: 'http', requestID: '1' });
    await c.until('the port error', () => c.finished(5) || undefined);
    expect(c.received(5)).toBe('invalid port: "http"');
    await c.open(9, { streamType: 'error', port: '80', requestID: '2' }, true);
    await c.until('the pairing timeout', () => c.finished(9) || undefined);
    expect(c.received(9)).toBe('timed out waiting for streams');
    u.socket.destroy();
  });
});

/** A WebSocket to the server as the API server dials it (GET), as `who` (admin by default; null: no client certificate). */
async function dialWs(path: string, protocols: string[], who: Issued | null = admin): Promise<{ status: number; body?: string; protocol?: string; client?: ChannelTestClient }> {
  return dialChannels(`wss://127.0.0.1:${port}${path}`, protocols, { ca: caCert, ...(who ? { cert: who.cert, key: who.key } : {}) });
}

describe('exec over WebSocket', () => {
  it('serveExec - v4.channel.k8s.io: an empty stdout message first, stdin on 0, stdout on 1, stderr on 2, the exit code as a metav1.Status on 3, then a normal close', async () => {
    script = async (req, seen) => {
      if (req.op !== ExecStreamOp.READ) return {};
      if (seen.filter((r) => r.op === ExecStreamOp.READ).length === 1) return { stdout: Buffer.from('out\n'), stderr: Buffer.from('err\n') };
      await waitFor('stdin written', async () => (seen.some((r) => r.op === ExecStreamOp.WRITE_STDIN) ? true : undefined), 5_000, 10);
      return { exited: true, exitCode: 3 };
    };
    const d = await dialWs('/exec/ns/web/app?command=sh&command=-c&command=cat&input=1&output=1&error=1', ['v4.channel.k8s.io', 'channel.k8s.io']);
    expect([d.status, d.protocol]).toEqual([101, 'v4.channel.k8s.io']);
    const c = d.client!;
    await c.until('the first message', () => c.messages[0]);
    expect(c.messages[0]).toEqual({ channel: 1, data: Buffer.alloc(0), binary: true });
    c.send(0, 'hello');
    await c.until('the close', () => c.closeCode);
    expect(c.closeCode).toBe(1000);
    expect([c.received(1), c.received(2)]).toEqual(['out\n', 'err\n']);
    expect(JSON.parse(c.received(3))).toEqual({
      metadata: {},
      status: 'Failure',
      message: 'command terminated with non-zero exit code: error executing command [sh -c cat], exit code 3',
      reason: 'NonZeroExitCode',
      details: { causes: [{ reason: 'ExitCode', message: '3' }] },
    });
    expect(opened.at(-1)).toMatchObject({ containerId: 'c1', cmd: ['sh', '-c', 'cat'], stdin: true, stdout: true, stderr: true, tty: false });
    expect(Buffer.concat(ops.at(-1)!.filter((r) => r.op === ExecStreamOp.WRITE_STDIN).map((r) => r.stdin)).toString()).toBe('hello');
  });

  it('serveExec - v4.base64.channel.k8s.io: Success as JSON, output as base64 text', async () => {
    script = async (req) => (req.op === ExecStreamOp.READ ? { stdout: Buffer.from('hi\n'), exited: true, exitCode: 0 } : {});
    const d = await dialWs('/exec/ns/web/app?command=echo&command=hi&output=1', ['v4.base64.channel.k8s.io']);
    const c = d.client!;
    await c.until('the close', () => c.closeCode);
    expect(c.received(1)).toBe('hi\n');
    expect(c.messages.every((m) => !m.binary)).toBe(true);
    expect(JSON.parse(c.received(3))).toEqual({ metadata: {}, status: 'Success' });
  });

  it('serveExec - channel.k8s.io and base64.channel.k8s.io (before v4): a failure is its message on 3, a success nothing', async () => {
    script = async (req) => (req.op === ExecStreamOp.READ ? { exited: true, exitCode: 2 } : {});
    const failed = (await dialWs('/exec/ns/web/app?command=false&output=1', ['channel.k8s.io'])).client!;
    await failed.until('the close', () => failed.closeCode);
    expect(failed.received(3)).toBe('command terminated with non-zero exit code: error executing command [false], exit code 2');
    script = async (req) => (req.op === ExecStreamOp.READ ? { stdout: Buffer.from('ok'), exited: true, exitCode: 0 } : {});
    const ok = (await dialWs('/exec/ns/web/app?command=true&output=1', ['base64.channel.k8s.io'])).client!;
    await ok.until('the close', () => ok.closeCode);
    expect(ok.received(1)).toBe('ok');
    expect(ok.messages.filter((m) => m.channel === 3)).toEqual([]);
  });

  it('serveExec - with a terminal the resize channel sizes the exec; without stdout the empty first message is on stderr, without either on the error channel', async () => {
    script = async (req, seen) => {
      if (req.op !== ExecStreamOp.READ) return {};
      await waitFor('a resize', async () => (seen.some((r) => r.op === ExecStreamOp.RESIZE) ? true : undefined), 5_000, 10);
      return { exited: true, exitCode: 0 };
    };
    const tty = (await dialWs('/exec/ns/web/app?command=sh&output=1&tty=1&input=1', ['v4.channel.k8s.io'])).client!;
    tty.send(4, '{"Width":100,"Height":30}');
    await waitFor('the exec opened', async () => (opened.at(-1)?.tty ? true : undefined), 5_000, 10);
    tty.send(4, '{"Width":120,"Height":40}');
    await tty.until('the close', () => tty.closeCode);
    expect(opened.at(-1)).toMatchObject({ tty: true, size: { width: 100, height: 30 } });
    expect(ops.at(-1)!.find((r) => r.op === ExecStreamOp.RESIZE)?.size).toMatchObject({ width: 120, height: 40 });

    script = async (req) => (req.op === ExecStreamOp.READ ? { exited: true, exitCode: 0 } : {});
    const stderrOnly = (await dialWs('/exec/ns/web/app?command=true&error=1', ['v4.channel.k8s.io'])).client!;
    await stderrOnly.until('the close', () => stderrOnly.closeCode);
    expect(stderrOnly.messages[0]).toEqual({ channel: 2, data: Buffer.alloc(0), binary: true });
    const stdinOnly = (await dialWs('/exec/ns/web/app?command=true&input=1', ['v4.channel.k8s.io'])).client!;
    await stdinOnly.until('the close', () => stdinOnly.closeCode);
    expect(stdinOnly.messages[0]).toEqual({ channel: 3, data: Buffer.alloc(0), binary: true });
  });

  it('serveExec - 2 MiB of output and 1 MiB of stdin over a WebSocket, byte-exact', async () => {
    const out = Buffer.alloc(2 * 1024 * 1024);
    for (let i = 0; i < out.length; i++) out[i] = (i * 7) % 251;
    const stdin = Buffer.alloc(1024 * 1024, 0x5a);
    script = async (req, seen) => {
      if (req.op !== ExecStreamOp.READ) return {};
      const n = seen.filter((r) => r.op === ExecStreamOp.READ).length;
      if (n <= 8) return { stdout: out.subarray((n - 1) * 262_144, n * 262_144) };
      await waitFor('all stdin', async () => (seen.filter((r) => r.op === ExecStreamOp.WRITE_STDIN).reduce((a, r) => a + r.stdin.length, 0) === stdin.length ? true : undefined), 5_000, 10);
      return { exited: true, exitCode: 0 };
    };
    const c = (await dialWs('/exec/ns/web/app?command=cat&input=1&output=1', ['v4.channel.k8s.io'])).client!;
    c.send(0, stdin);
    await c.until('the close', () => c.closeCode, 10_000);
    expect(Buffer.concat(c.messages.filter((m) => m.channel === 1).map((m) => m.data)).equals(out)).toBe(true);
    expect(Buffer.concat(ops.at(-1)!.filter((r) => r.op === ExecStreamOp.WRITE_STDIN).map((r) => r.stdin)).equals(stdin)).toBe(true);
  });

  it('serveExec - a WebSocket client that goes away closes the exec at once', async () => {
    script = async (req) => {
      if (req.op === ExecStreamOp.READ) await new Promise((r) => setTimeout(r, 200));
      return {};
    };
    const before = opened.length;
    const c = (await dialWs('/exec/ns/web/app?command=sleep&output=1', ['v4.channel.k8s.io'])).client!;
    await waitFor('reads going on', async () => (ops.length > before && ops.at(-1)!.length ? true : undefined), 5_000, 10);
    const gone = Date.now();
    c.ws.terminate();
    await waitFor('CLOSE sent', async () => (ops[before]!.some((r) => r.op === ExecStreamOp.CLOSE) ? true : undefined), 2_000, 10);
    expect(Date.now() - gone).toBeLessThan(1_000);
  });

  it('serveExec - the same filter as SPDY: no identity 401, a user the authorizer refuses 403, before any exec; no protocol in common 403; the kubelet\'s 400 and 404', async () => {
    const before = opened.length;
    expect(await dialWs('/exec/ns/web/app?command=true&output=1', ['v4.channel.k8s.io'], null)).toMatchObject({ status: 401, body: 'Unauthorized' });
    const refused = await dialWs('/exec/ns/web/app?command=true&output=1', ['v4.channel.k8s.io'], bob);
    expect(refused).toMatchObject({ status: 403, body: 'Forbidden (user=bob, verb=get, resource=nodes, subresource(s)=[proxy])\n' });
    expect((await dialWs('/attach/ns/web/app?output=1', ['v4.channel.k8s.io'], bob)).status).toBe(403);
    expect((await dialWs('/portForward/ns/web?port=80', ['v4.channel.k8s.io'], bob)).status).toBe(403);
    expect((await dialWs('/exec/ns/web/app?command=true&output=1', ['v5.channel.k8s.io', 'portforward.k8s.io'])).status).toBe(403);
    expect((await dialWs('/exec/ns/web/app?command=true', ['v4.channel.k8s.io'])).status).toBe(400);
    expect((await dialWs('/exec/ns/nope/app?command=true&output=1', ['v4.channel.k8s.io'])).status).toBe(404);
    expect(opened.length).toBe(before);
  });
});

describe('attach over WebSocket', () => {
  it('serveAttach - the container\'s output on 1 and Success on 3', async () => {
    script = async (req) => (req.op === ExecStreamOp.READ ? { stdout: Buffer.from('tick\n'), exited: true, exitCode: 1 } : {});
    const c = (await dialWs('/attach/ns/web/app?output=1', ['v4.channel.k8s.io'])).client!;
    await c.until('the close', () => c.closeCode);
    expect(c.received(1)).toBe('tick\n');
    expect(JSON.parse(c.received(3))).toEqual({ metadata: {}, status: 'Success' });
  });
});

describe('port-forward over WebSocket', () => {
  it('servePortForward - each port is channels 2i (data) and 2i+1 (error), each opened with the port little-endian; bytes both ways; closed once every connection ended', async () => {
    script = async (req, seen) => {
      if (req.op !== ExecStreamOp.READ) return {};
      await waitFor('the request', async () => (seen.some((r) => r.op === ExecStreamOp.WRITE_STDIN) ? true : undefined), 5_000, 10);
      const sent = Buffer.concat(seen.filter((r) => r.op === ExecStreamOp.WRITE_STDIN).map((r) => r.stdin)).toString();
      return { stdout: Buffer.from(`echo:${sent}`), exited: true, exitCode: 0 };
    };
    const d = await dialWs('/portForward/ns/web?port=8080&port=9090', ['v4.channel.k8s.io']);
    expect([d.status, d.protocol]).toEqual([101, 'v4.channel.k8s.io']);
    const c = d.client!;
    await c.until('the port prefixes', () => (c.messages.length >= 4 ? true : undefined));
    expect(c.messages.slice(0, 4).map((m) => [m.channel, [...m.data]])).toEqual([
      [0, [0x90, 0x1f]],
      [1, [0x90, 0x1f]],
      [2, [0x82, 0x23]],
      [3, [0x82, 0x23]],
    ]);
    c.send(0, 'a');
    c.send(2, 'b');
    await c.until('the close', () => c.closeCode);
    expect(c.closeCode).toBe(1000);
    // Past the 2-byte prefix: the pod's answer on each data channel, nothing on the error channels.
    expect([c.received(0).slice(2), c.received(2).slice(2), c.received(1).length, c.received(3).length]).toEqual(['echo:a', 'echo:b', 2, 2]);
    expect(forwards.slice(-2).map((f) => f.port).sort()).toEqual([8080, 9090]);
  });

  it('servePortForward - a failed connection writes the kubelet\'s words on its error channel; bad ports are 400 before the pod is looked up', async () => {
    const c = (await dialWs('/portForward/ns/web?port=81', ['v4.base64.channel.k8s.io'])).client!;
    await c.until('the close', () => c.closeCode);
    expect(c.received(1).slice(2)).toBe('error forwarding port 81 to pod uid-1, uid : no running pod sandbox');
    expect(await dialWs('/portForward/ns/nope', ['v4.channel.k8s.io'])).toMatchObject({ status: 400, body: 'query parameter "port" is required' });
    expect(await dialWs('/portForward/ns/web?port=0', ['v4.channel.k8s.io'])).toMatchObject({ status: 400, body: 'port "0" must be > 0' });
    expect(await dialWs('/portForward/ns/web?port=http', ['v4.channel.k8s.io'])).toMatchObject({ status: 400, body: 'unable to parse "http" as a port: strconv.ParseUint: parsing "http": invalid syntax' });
    expect(await dialWs(`/portForward/ns/web?port=${Array.from({ length: 128 }, (_, i) => 1000 + i).join(',')}`, ['v4.channel.k8s.io'])).toMatchObject({ status: 400, body: 'at most 127 ports in one request' });
    expect((await dialWs('/portForward/ns/nope?port=80', ['v4.channel.k8s.io'])).status).toBe(404);
    expect((await dialWs('/portForward/ns/web?port=80', ['channel.k8s.io'])).status).toBe(403);
  });
});
