import { Duplex, PassThrough } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createRpcClient, execStreamSubject, isRemoteError, type RemoteError } from '@splitlet/bus';
import { create, ExecStreamOp, ExecStreamRequestSchema, ExecStreamResponseSchema, ExecStreamService, fromBinary, toBinary } from '@splitlet/contracts';
import { startServiceHarness, waitFor, type ServiceHarness } from '@splitlet/testing';
import type { DockerApi } from '../docker';
import { LABEL, TYPE_CONTAINER, TYPE_SANDBOX } from '../docker-mapping';
import { RT } from '../tokens';
import { EXEC_WINDOW_BYTES } from './exec-session';
import { ExecStreamServer } from './exec-server';

const frame = (fd: 1 | 2, text: string | Buffer) => {
  const payload = Buffer.from(text);
  const header = Buffer.alloc(8);
  header[0] = fd;
  header.writeUInt32BE(payload.length, 4);
  return Buffer.concat([header, payload]);
};

const C1 = 'c1'.repeat(32);
const S0 = 'a0'.repeat(32);
const S1 = 'a1'.repeat(32);
const C2 = 'c2'.repeat(32);
const C3 = 'c3'.repeat(32);
/** Runs with stdin and stdinOnce. */
const C4 = 'c4'.repeat(32);

/** One Docker exec's hijacked connection as the test sees it from Docker's side. */
interface FakeExec {
  opts: Record<string, unknown>;
  conn: Duplex;
  stdin: Buffer[];
  stdinEnded: boolean;
  resizes: { w: number; h: number }[];
  exitCode: number;
}

/** Container c1 runs (with stdin), c3 runs with a terminal, c2 exited; every exec and attach is recorded. */
function fakeDocker(nodeName: string) {
  const execs: FakeExec[] = [];
  const attaches: (FakeExec & { container: string })[] = [];
  const containerResizes: { id: string; w: number; h: number }[] = [];
  const hijacked = (x: { stdin: Buffer[]; stdinEnded: boolean }) =>
    new Duplex({
      read() {},
      write(chunk: Buffer, _e, cb) {
        x.stdin.push(chunk);
        cb();
      },
      final(cb) {
        x.stdinEnded = true;
        cb();
      },
    });
  const labels = { [LABEL.node]: nodeName, [LABEL.type]: TYPE_CONTAINER };
  const sandboxLabels = { [LABEL.node]: nodeName, [LABEL.type]: TYPE_SANDBOX, [LABEL.podUid]: 'pod-1' };
  const docker = {
    listContainers: async (opts: { filters: { label: string[] } }) => {
      const labels = opts.filters.label;
      return labels.includes(`${LABEL.podUid}=pod-1`) ? [{ Id: S1, State: 'running', Created: 2 }, { Id: S0, State: 'exited', Created: 1 }] : [];
    },
    getContainer: (id: string) => ({
      inspect: async () => {
        if (id === S1) return { Id: id, State: { Running: true, Pid: 4242 }, Config: { Labels: sandboxLabels } };
        if (id !== C1 && id !== C2 && id !== C3 && id !== C4) throw Object.assign(new Error('No such container'), { statusCode: 404 });
        return { Id: id, State: { Running: id !== C2 }, Config: { Tty: id === C3, OpenStdin: true, StdinOnce: id === C4, Labels: labels } };
      },
      attach: async (opts: Record<string, unknown>) => {
        const x = { container: id, opts, conn: undefined as never as Duplex, stdin: [] as Buffer[], stdinEnded: false, resizes: [], exitCode: 0 };
        x.conn = hijacked(x);
        attaches.push(x);
        return x.conn;
      },
      resize: async (size: { w: number; h: number }) => void containerResizes.push({ id, ...size }),
      exec: async (opts: Record<string, unknown>) => {
        const x: FakeExec = { opts, conn: undefined as never, stdin: [], stdinEnded: false, resizes: [], exitCode: 0 };
        x.conn = hijacked(x);
        execs.push(x);
        return {
          start: async () => x.conn,
          resize: async (size: { w: number; h: number }) => void x.resizes.push(size),
          inspect: async () => {
            const gone = x.conn.readableEnded || x.conn.destroyed;
            return { Running: !gone, ExitCode: gone ? x.exitCode : null };
          },
        };
      },
    }),
  } as unknown as DockerApi;
  return { docker, execs, attaches, containerResizes };
}

describe('exec stream server', () => {
  let h: ServiceHarness;
  let fake: ReturnType<typeof fakeDocker>;
  let abort: AbortController;
  let server: ExecStreamServer;
  let running: Promise<void>;

  beforeEach(async () => {
    h = await startServiceHarness('runtime-executor');
    fake = fakeDocker(h.nodeName);
    h.container.registerInstance(RT.Docker, fake.docker);
    server = h.container.resolve(ExecStreamServer);
    abort = new AbortController();
    running = server.run(abort.signal);
    await h.nc.flush();
  });
  afterEach(async () => {
    abort.abort();
    await running;
    await h.close();
  });

  const client = () => createRpcClient(h.peer, h.nodeName, ExecStreamService);
  const op = async (id: string, req: Parameters<typeof create<typeof ExecStreamRequestSchema>>[1]) =>
    fromBinary(ExecStreamResponseSchema, (await h.peer.request(execStreamSubject(h.nodeName, id), toBinary(ExecStreamRequestSchema, create(ExecStreamRequestSchema, req)), { timeout: 5_000 })).data);
  const read = (id: string) => op(id, { op: ExecStreamOp.READ, maxBytes: 1 << 20, waitMs: 2_000 });

  it('ExecStreamServer - hands out stdout and stderr apart from Docker\'s framing, then the exit code, and frees the exec', async () => {
    const { streamId } = await client().openExec({ containerId: C1, cmd: ['sh', '-c', 'x'], stdout: true, stderr: true });
    expect(fake.execs[0]!.opts).toMatchObject({ Cmd: ['sh', '-c', 'x'], AttachStdin: false, AttachStdout: true, AttachStderr: true, Tty: false });
    // A frame split across chunks is put back together.
    const both = Buffer.concat([frame(1, 'out\n'), frame(2, 'err\n')]);
    fake.execs[0]!.conn.push(both.subarray(0, 5));
    fake.execs[0]!.conn.push(both.subarray(5));
    const first = await read(streamId);
    expect([first.stdout.toString(), first.stderr.toString(), first.exited]).toEqual(['out\n', 'err\n', false]);
    fake.execs[0]!.exitCode = 3;
    fake.execs[0]!.conn.push(null);
    expect(await read(streamId)).toMatchObject({ exited: true, exitCode: 3, error: '' });
    await waitFor('exec freed', async () => (server.openCount === 0 ? true : undefined));
  });

  it('ExecStreamServer - writes stdin, each write answered once Docker took it, and half-closes at CLOSE_STDIN; output still flows after', async () => {
    const { streamId } = await client().openExec({ containerId: C1, cmd: ['cat'], stdin: true, stdout: true });
    expect(fake.execs[0]!.opts).toMatchObject({ AttachStdin: true });
    expect(await op(streamId, { op: ExecStreamOp.WRITE_STDIN, stdin: Buffer.from('hello ') })).toMatchObject({ error: '' });
    expect(await op(streamId, { op: ExecStreamOp.WRITE_STDIN, stdin: Buffer.from('world') })).toMatchObject({ error: '' });
    await op(streamId, { op: ExecStreamOp.CLOSE_STDIN });
    await waitFor('stdin half-closed', async () => (fake.execs[0]!.stdinEnded ? true : undefined));
    expect(Buffer.concat(fake.execs[0]!.stdin).toString()).toBe('hello world');
    fake.execs[0]!.conn.push(frame(1, 'hello world'));
    expect((await read(streamId)).stdout.toString()).toBe('hello world');
  });

  it('ExecStreamServer - stdin written to a process that already exited is the end of stdin: the exit code stands, not an error', async () => {
    const { streamId } = await client().openExec({ containerId: C1, cmd: ['true'], stdin: true, stdout: true });
    const x = fake.execs[0]!;
    x.exitCode = 0;
    x.conn.destroy(Object.assign(new Error('write EPIPE'), { code: 'EPIPE' }));
    expect(await op(streamId, { op: ExecStreamOp.WRITE_STDIN, stdin: Buffer.from('late') })).toMatchObject({ error: '' });
    expect(await read(streamId)).toMatchObject({ exited: true, exitCode: 0, error: '' });
  });

  it('ExecStreamServer - a terminal: raw output, the first size and later resizes go to Docker; a bad size is refused', async () => {
    const { streamId } = await client().openExec({ containerId: C1, cmd: ['sh'], stdin: true, stdout: true, stderr: true, tty: true, size: { width: 80, height: 24 } });
    expect(fake.execs[0]!.opts).toMatchObject({ Tty: true, AttachStderr: false });
    expect(fake.execs[0]!.resizes).toEqual([{ w: 80, h: 24 }]);
    expect(await op(streamId, { op: ExecStreamOp.RESIZE, size: { width: 120, height: 40 } })).toMatchObject({ error: '' });
    expect(fake.execs[0]!.resizes.at(-1)).toEqual({ w: 120, h: 40 });
    expect((await op(streamId, { op: ExecStreamOp.RESIZE, size: { width: 0, height: 40 } })).error).toMatch(/width and height/);
    fake.execs[0]!.conn.push(Buffer.from('$ \x1b[1m'));
    expect((await read(streamId)).stdout.toString()).toBe('$ \x1b[1m');
  });

  it('ExecStreamServer - attach: the container\'s own streams from now on, stdin to it, its end a success; no terminal to resize', async () => {
    const { streamId, tty } = await client().openAttach({ containerId: C1, stdin: true, stdout: true, stderr: true });
    expect(tty).toBe(false);
    const a = fake.attaches[0]!;
    expect([a.container, a.opts]).toEqual([C1, { stream: true, hijack: true, stdin: true, stdout: true, stderr: true, logs: false }]);
    a.conn.push(Buffer.concat([frame(1, 'out\n'), frame(2, 'err\n')]));
    expect(await read(streamId)).toMatchObject({ stdout: Buffer.from('out\n'), stderr: Buffer.from('err\n'), exited: false });
    expect(await op(streamId, { op: ExecStreamOp.WRITE_STDIN, stdin: Buffer.from('typed') })).toMatchObject({ error: '' });
    expect(Buffer.concat(a.stdin).toString()).toBe('typed');
    expect((await op(streamId, { op: ExecStreamOp.RESIZE, size: { width: 80, height: 24 } })).error).toBe('the container has no terminal');
    // The container exited: its streams end, and so does the attach.
    a.conn.push(null);
    expect(await read(streamId)).toMatchObject({ exited: true, exitCode: 0, error: '' });
    await waitFor('attach freed', async () => (server.openCount === 0 ? true : undefined));
  });

  it('ExecStreamServer - attach: the client\'s end of stdin ends the container\'s only with stdinOnce; else its output goes on (Docker would close it)', async () => {
    // No stdinOnce (kubectl debug -i): Docker's stream is not half-closed, so what the
    // container writes after reading its input still comes back, as containerd's attach.
    const open = await client().openAttach({ containerId: C1, stdin: true, stdout: true, stderr: true });
    const a = fake.attaches[0]!;
    expect(await op(open.streamId, { op: ExecStreamOp.WRITE_STDIN, stdin: Buffer.from('hello\n') })).toMatchObject({ error: '' });
    expect(await op(open.streamId, { op: ExecStreamOp.CLOSE_STDIN })).toMatchObject({ error: '' });
    expect(a.stdinEnded).toBe(false);
    a.conn.push(frame(1, 'got hello\n'));
    a.conn.push(null);
    expect(await read(open.streamId)).toMatchObject({ stdout: Buffer.from('got hello\n') });
    // stdinOnce: the end of the client's stdin is the container's (Docker closes only its stdin then).
    const once = await client().openAttach({ containerId: C4, stdin: true, stdout: true, stderr: true });
    const b = fake.attaches[1]!;
    await op(once.streamId, { op: ExecStreamOp.CLOSE_STDIN });
    expect(b.stdinEnded).toBe(true);
  });

  it('ExecStreamServer - attach to a terminal: raw output, sized on open and resized; CLOSE detaches; a stopped container is refused', async () => {
    const { streamId, tty } = await client().openAttach({ containerId: C3, stdin: true, stdout: true, stderr: true, size: { width: 100, height: 30 } });
    expect(tty).toBe(true);
    expect(fake.attaches[0]!.opts).toMatchObject({ stderr: false });
    expect(fake.containerResizes).toEqual([{ id: C3, w: 100, h: 30 }]);
    fake.attaches[0]!.conn.push(Buffer.from('# \x1b[1m'));
    expect((await read(streamId)).stdout.toString()).toBe('# \x1b[1m');
    expect(await op(streamId, { op: ExecStreamOp.RESIZE, size: { width: 120, height: 40 } })).toMatchObject({ error: '' });
    expect(fake.containerResizes.at(-1)).toEqual({ id: C3, w: 120, h: 40 });
    await op(streamId, { op: ExecStreamOp.CLOSE });
    expect(fake.attaches[0]!.conn.destroyed).toBe(true);
    expect(server.openCount).toBe(0);
    const refused = (await client().openAttach({ containerId: C2, stdout: true }).catch((e: unknown) => e)) as RemoteError;
    expect(isRemoteError(refused) && refused.code).toBe(9);
  });

  it('ExecStreamServer - stops reading Docker above its window until the output is read', async () => {
    const { streamId } = await client().openExec({ containerId: C1, cmd: ['yes'], stdout: true });
    const conn = fake.execs[0]!.conn;
    const chunk = frame(1, Buffer.alloc(64 * 1024, 'y'));
    for (let i = 0; i < 12; i++) conn.push(chunk);
    await waitFor('Docker\'s stream paused', async () => (conn.isPaused() ? true : undefined));
    let got = 0;
    while (got < 12 * 64 * 1024) got += (await read(streamId)).stdout.length;
    expect(got).toBe(12 * 64 * 1024);
    expect(12 * 64 * 1024).toBeGreaterThan(EXEC_WINDOW_BYTES);
    expect(conn.isPaused()).toBe(false);
  });

  it('ExecStreamServer - CLOSE destroys Docker\'s connection at once; the stream id is then unknown', async () => {
    const { streamId } = await client().openExec({ containerId: C1, cmd: ['sleep', '9'], stdin: true, stdout: true });
    expect(server.openCount).toBe(1);
    await op(streamId, { op: ExecStreamOp.CLOSE });
    expect(fake.execs[0]!.conn.destroyed).toBe(true);
    expect(server.openCount).toBe(0);
    await expect(op(streamId, { op: ExecStreamOp.READ })).rejects.toThrow();
  });

  it('ExecStreamServer - refuses a container that is not there (5) or not running (9), and a request without command or streams or with a bad id (3)', async () => {
    const code = async (p: Promise<unknown>) => {
      const err = await p.catch((e: unknown) => e);
      expect(isRemoteError(err)).toBe(true);
      return (err as RemoteError).code;
    };
    expect(await code(client().openExec({ containerId: 'f'.repeat(64), cmd: ['true'], stdout: true }))).toBe(5);
    expect(await code(client().openExec({ containerId: '../../info', cmd: ['true'], stdout: true }))).toBe(3);
    expect(await code(client().openExec({ containerId: C2, cmd: ['true'], stdout: true }))).toBe(9);
    expect(await code(client().openExec({ containerId: C1, cmd: [], stdout: true }))).toBe(3);
    expect(await code(client().openExec({ containerId: C1, cmd: ['true'] }))).toBe(3);
    expect(fake.execs).toHaveLength(0);
  });

  it('ExecStreamServer - a malformed operation gets an error and changes nothing', async () => {
    const { streamId } = await client().openExec({ containerId: C1, cmd: ['cat'], stdout: true });
    const reply = await h.peer.request(execStreamSubject(h.nodeName, streamId), Buffer.from([0xff, 0xff, 0xff]), { timeout: 5_000 });
    expect(fromBinary(ExecStreamResponseSchema, reply.data).error).toBe('malformed ExecStreamRequest');
    expect(server.openCount).toBe(1);
  });

  describe('port-forward', () => {
    /** The connections made into sandboxes: pid, port, and the pod's side of each. */
    const connections: { pid: number; port: number; toPod: PassThrough; fromPod: PassThrough; finish: (code: Error | 0) => void }[] = [];
    beforeEach(() => {
      connections.length = 0;
      server.connect = (pid, port) => {
        const toPod = new PassThrough();
        const fromPod = new PassThrough();
        let finish: (r: Error | 0) => void = () => undefined;
        const done = new Promise<number>((resolve, reject) => (finish = (r) => (r === 0 ? resolve(0) : reject(r))));
        done.catch(() => undefined);
        connections.push({ pid, port, toPod, fromPod, finish });
        return { stream: Duplex.from({ readable: fromPod, writable: toPod }), done: () => done };
      };
    });
    const pf = () => createRpcClient(h.peer, h.nodeName, ExecStreamService);

    it('ExecStreamServer - OpenPortForward connects inside the running sandbox\'s network namespace and carries bytes both ways', async () => {
      const { streamId } = await pf().openPortForward({ podUid: 'pod-1', port: 8080 });
      expect(connections.map((c) => [c.pid, c.port])).toEqual([[4242, 8080]]);
      const c = connections[0]!;
      await op(streamId, { op: ExecStreamOp.WRITE_STDIN, stdin: Buffer.from('GET / HTTP/1.0\r\n\r\n') });
      expect(c.toPod.read()?.toString()).toBe('GET / HTTP/1.0\r\n\r\n');
      c.fromPod.write('HTTP/1.0 200 OK\r\n\r\nhi');
      expect((await read(streamId)).stdout.toString()).toBe('HTTP/1.0 200 OK\r\n\r\nhi');
      c.fromPod.end();
      c.finish(0);
      expect(await read(streamId)).toMatchObject({ exited: true, exitCode: 0, error: '' });
    });

    it('ExecStreamServer - a refused connection is the stream\'s error, in the connect\'s words', async () => {
      const { streamId } = await pf().openPortForward({ podUid: 'pod-1', port: 81 });
      connections[0]!.fromPod.end();
      connections[0]!.finish(new Error('connect ECONNREFUSED 127.0.0.1:81'));
      expect((await read(streamId)).error).toBe('connect ECONNREFUSED 127.0.0.1:81');
      await waitFor('freed', async () => (server.openCount === 0 ? true : undefined));
    });

    it('ExecStreamServer - OpenPortForward refuses a pod without a running sandbox (5), a bad port or uid (3)', async () => {
      const code = async (p: Promise<unknown>) => ((await p.catch((e: unknown) => e)) as RemoteError).code;
      expect(await code(pf().openPortForward({ podUid: 'pod-2', port: 80 }))).toBe(5);
      expect(await code(pf().openPortForward({ podUid: 'pod-1', port: 0 }))).toBe(3);
      expect(await code(pf().openPortForward({ podUid: 'pod-1', port: 70000 }))).toBe(3);
      expect(await code(pf().openPortForward({ podUid: '../x', port: 80 }))).toBe(3);
      expect(connections).toHaveLength(0);
    });
  });
});
