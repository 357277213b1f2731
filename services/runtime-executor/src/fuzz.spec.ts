import { Duplex, type Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DescMessage, MessageShape } from '@bufbuild/protobuf';
import { errors } from '@nats-io/transport-node';
import { containerLogStreamSubject, createRpcClient, execStreamSubject, methodSubject } from '@splitlet/bus';
import {
  ContainerLogService,
  create,
  ExecStreamOp,
  ExecStreamRequestSchema,
  ExecStreamResponseSchema,
  ExecStreamService,
  fromBinary,
  ImageService,
  ReadContainerLogRequestSchema,
  RuntimeService,
  toBinary,
} from '@splitlet/contracts';
import { randomMessageBytes, SeededRandom, startServiceHarness, type ServiceHarness } from '@splitlet/testing';
import type { DockerApi } from './docker';
import { LABEL, TYPE_CONTAINER, TYPE_SANDBOX } from './docker-mapping';
import { ExecStreamServer } from './exec/exec-server';
import { ContainerLogServer } from './logs/log-server';
import { RT } from './tokens';
import { useExecutorOnFakeDocker } from './__fixtures__/executor';

// Every endpoint of runtime-executor on a real nats-server, with the real dockerode
// talking to a Docker that holds nothing (answering as Docker's router does), fed
// random bytes and random messages of its request type whose fields are often
// hostile values; then the per-session subjects of its log, exec and port-forward
// streams. Fixed seed; FUZZ_SEED and FUZZ_N (messages of each sort per endpoint)
// run it otherwise (bench/ runs it longer).
const SEED = Number(process.env['FUZZ_SEED'] ?? 14);
const N = Number(process.env['FUZZ_N'] ?? 60);

describe('runtime-executor - fuzz', () => {
  let h: ServiceHarness;
  const executor = useExecutorOnFakeDocker();
  beforeAll(() => {
    h = executor.harness();
  });

  const endpoints = [RuntimeService, ImageService, ContainerLogService, ExecStreamService].flatMap((service) => service.methods.map((method) => ({ service, method })));

  for (const { service, method } of endpoints) {
    it(`${method.name} - answers every one of ${2 * N} random requests (seed ${SEED}) and keeps serving`, async () => {
      const r = new SeededRandom(SEED + method.name.length * 7919 + method.name.charCodeAt(0));
      const subject = methodSubject(h.nodeName, service, method.name);
      let answered = 0;
      let errors = 0;
      for (let i = 0; i < N; i++) {
        for (const payload of [r.bytes(r.int(0, 512)), randomMessageBytes(r, method.input)]) {
          // A reply (a message or an error header) within the timeout, or request() rejects.
          const reply = await h.peer.request(subject, payload, { timeout: 5000 });
          answered++;
          if (reply.headers?.get('Nats-Service-Error-Code')) errors++;
        }
      }
      expect(answered).toBe(2 * N);
      expect(errors).toBeGreaterThan(0);
      expect((await createRpcClient(h.peer, h.nodeName, RuntimeService, { timeoutMs: 2000 }).version({})).runtimeVersion).toBe('20.10.24');
    });
  }
});

/** The message the bytes decode to, or undefined. */
function decodes<D extends DescMessage>(schema: D, bytes: Uint8Array): MessageShape<D> | undefined {
  try {
    return fromBinary(schema, bytes);
  } catch {
    return undefined;
  }
}

/** nats.js's rejection of a request nobody subscribes to. */
const isNoResponders = (err: unknown) => (err instanceof errors.RequestError && err.isNoResponders()) || err instanceof errors.NoRespondersError;

const C1 = 'c1'.repeat(32);
const SANDBOX = 'a1'.repeat(32);

/** A Docker frame (stdout) of `size` bytes of log lines, as `docker logs` with timestamps sends them. */
function logFrame(size: number): Buffer {
  const line = '2026-12-03T10:00:00.500000000Z fuzz\n';
  const payload = Buffer.from(line.repeat(Math.ceil(size / line.length)));
  const header = Buffer.alloc(8);
  header[0] = 1;
  header.writeUInt32BE(payload.length, 4);
  return Buffer.concat([header, payload]);
}

/**
 * A Docker with one running container of this node and a running sandbox of pod
 * "pod-1", whose log and whose execs never stop writing (so a pull or a read is
 * answered at once, whatever it waits for), and which takes every stdin write. Every
 * connection it handed out is kept, to see which the executor left open.
 */
function endlessDocker(nodeName: string) {
  const connections: (Readable | Duplex)[] = [];
  const labels = { [LABEL.node]: nodeName, [LABEL.type]: TYPE_CONTAINER };
  const endless = () => {
    const d = new Duplex({
      read() {
        this.push(logFrame(4096));
      },
      write(_chunk, _e, cb) {
        cb();
      },
    });
    connections.push(d);
    return d;
  };
  const docker = {
    listContainers: async () => [{ Id: SANDBOX, State: 'running', Created: 1 }],
    getContainer: (id: string) => ({
      inspect: async () => {
        if (id === SANDBOX) return { Id: id, State: { Running: true, Pid: 4242 }, Config: { Labels: { [LABEL.node]: nodeName, [LABEL.type]: TYPE_SANDBOX, [LABEL.podUid]: 'pod-1' } } };
        if (id !== C1) throw Object.assign(new Error('No such container'), { statusCode: 404 });
        return { Id: id, State: { Running: true }, Config: { Tty: false, Labels: labels } };
      },
      modem: { dial: (_opts: unknown, cb: (err: unknown, s?: unknown) => void) => cb(null, endless()) },
      exec: async () => {
        const conn = endless();
        return {
          start: async () => conn,
          resize: async () => undefined,
          inspect: async () => ({ Running: !conn.destroyed, ExitCode: conn.destroyed ? 0 : null }),
        };
      },
    }),
  } as unknown as DockerApi;
  return { docker, connections, forward: () => ({ stream: endless(), done: () => new Promise<number>(() => undefined) }) };
}

describe('runtime-executor - fuzz of the log, exec and port-forward streams', () => {
  let h: ServiceHarness;
  let fake: ReturnType<typeof endlessDocker>;
  let logs: ContainerLogServer;
  let execs: ExecStreamServer;
  const abort = new AbortController();
  let running: Promise<unknown>;

  beforeAll(async () => {
    h = await startServiceHarness('runtime-executor');
    fake = endlessDocker(h.nodeName);
    h.container.registerInstance(RT.Docker, fake.docker);
    logs = h.container.resolve(ContainerLogServer);
    execs = h.container.resolve(ExecStreamServer);
    execs.connect = () => fake.forward();
    running = Promise.all([logs.run(abort.signal), execs.run(abort.signal)]);
    await h.nc.flush();
  });
  afterAll(async () => {
    abort.abort();
    await running;
    await h.close();
  });

  const execClient = () => createRpcClient(h.peer, h.nodeName, ExecStreamService, { timeoutMs: 5000 });
  const sessions = [
    {
      kind: 'log',
      request: ReadContainerLogRequestSchema,
      open: async () => (await createRpcClient(h.peer, h.nodeName, ContainerLogService, { timeoutMs: 5000 }).openContainerLog({ containerId: C1, options: { follow: true } })).streamId,
      subject: (id: string) => containerLogStreamSubject(h.nodeName, id),
      close: toBinary(ReadContainerLogRequestSchema, create(ReadContainerLogRequestSchema, { close: true })),
      closes: (p: Uint8Array) => decodes(ReadContainerLogRequestSchema, p)?.close === true,
    },
    {
      kind: 'exec',
      request: ExecStreamRequestSchema,
      open: async () => (await execClient().openExec({ containerId: C1, cmd: ['sh'], stdin: true, stdout: true, stderr: true })).streamId,
      subject: (id: string) => execStreamSubject(h.nodeName, id),
      close: toBinary(ExecStreamRequestSchema, create(ExecStreamRequestSchema, { op: ExecStreamOp.CLOSE })),
      closes: (p: Uint8Array) => decodes(ExecStreamRequestSchema, p)?.op === ExecStreamOp.CLOSE,
    },
    {
      kind: 'port-forward',
      request: ExecStreamRequestSchema,
      open: async () => (await execClient().openPortForward({ podUid: 'pod-1', port: 8080 })).streamId,
      subject: (id: string) => execStreamSubject(h.nodeName, id),
      close: toBinary(ExecStreamRequestSchema, create(ExecStreamRequestSchema, { op: ExecStreamOp.CLOSE })),
      closes: (p: Uint8Array) => decodes(ExecStreamRequestSchema, p)?.op === ExecStreamOp.CLOSE,
    },
  ] as const;

  for (const s of sessions) {
    it(`${s.kind} stream - answers every one of ${2 * N} random pulls and ops (seed ${SEED}), one at a time and in bursts; frees every Docker connection it opened`, async () => {
      const r = new SeededRandom(SEED + s.kind.length * 104729);
      const before = fake.connections.length;
      let id = await s.open();
      let conn = fake.connections.at(-1)!;
      let answered = 0;
      let reopened = 0;
      const payloads = Array.from({ length: N }, () => [r.bytes(r.int(0, 512)), randomMessageBytes(r, s.request)]).flat();
      for (let i = 0; i < payloads.length; ) {
        // A CLOSE (or a pull with close) among them ends the stream: the next ones go to a new one.
        if (conn.destroyed) {
          id = await s.open();
          conn = fake.connections.at(-1)!;
          reopened++;
        }
        // Mostly one at a time; now and then a burst of up to 8 at once (a second read or
        // write while one waits), which ends with a payload that closes the stream if it
        // holds one: a request that crosses its own stream's close in flight may reach the
        // executor's connection after the subscription ended, and nobody answers it.
        let burst = r.next() < 0.2 ? payloads.slice(i, i + 8) : [payloads[i]!];
        const closing = burst.findIndex((p) => s.closes(p));
        if (closing >= 0) burst = burst.slice(0, closing + 1);
        i += burst.length;
        const replies = await Promise.allSettled(burst.map((p) => h.peer.request(s.subject(id), p, { timeout: 12_000 })));
        for (const reply of replies) {
          if (reply.status === 'rejected') throw reply.reason;
          answered++;
        }
      }
      expect(answered).toBeGreaterThan(payloads.length / 2);
      // Garbage to a stream that is not (or no longer) there is nobody's: dropped.
      const gone = await h.peer.request(s.subject('0'.repeat(24)), r.bytes(16), { timeout: 2000 }).catch((e: unknown) => e);
      expect(isNoResponders(gone)).toBe(true);
      // The stream still works, then its caller's close frees Docker's side; nothing opened meanwhile is left open.
      if (conn.destroyed) id = await s.open();
      if (s.kind !== 'log') {
        const out = fromBinary(ExecStreamResponseSchema, (await h.peer.request(s.subject(id), toBinary(ExecStreamRequestSchema, create(ExecStreamRequestSchema, { op: ExecStreamOp.READ, maxBytes: 100 })), { timeout: 5000 })).data);
        expect(out).toMatchObject({ error: '', exited: false });
        expect(out.stdout.length).toBe(100);
      }
      await h.peer.request(s.subject(id), s.close, { timeout: 5000 });
      const opened = fake.connections.slice(before);
      expect(opened.filter((c) => !c.destroyed)).toHaveLength(0);
      expect(logs.openCount + execs.openCount).toBe(0);
      expect(opened.length).toBeGreaterThan(reopened);
    });
  }
});
