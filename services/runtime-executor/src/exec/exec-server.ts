import { randomBytes } from 'node:crypto';
import type { Duplex } from 'node:stream';
import { inject, injectable } from 'tsyringe';
import type Docker from 'dockerode';
import type { Service } from '@nats-io/services';
import type { Msg, NatsConnection, Subscription } from '@nats-io/transport-node';
import { ErrorCode, execStreamSubject, HandlerError, serveRpc } from '@splitlet/bus';
import { create, ExecStreamOp, ExecStreamRequestSchema, ExecStreamResponseSchema, ExecStreamService, fromBinary, toBinary, type ExecStreamRequest, type OpenAttachRequest, type OpenExecRequest, type OpenPortForwardRequest } from '@splitlet/contracts';
import { TOKENS, untilAborted, type Runnable } from '@splitlet/service';
import type { Logger } from '@splitlet/telemetry';
import { dockerCall, type DockerApi } from '../docker';
import { LABEL, TYPE_CONTAINER, TYPE_SANDBOX } from '../docker-mapping';
import { Owned } from '../owned';
import { requireContainerId } from '../request-validation';
import { RT } from '../tokens';
import { ExecSession } from './exec-session';
import { connectInNetns, type ForwardedConnection } from './port-forward';

/** An exec nobody drove for this long is closed (its caller died without closing it). */
export const EXEC_IDLE_MS = 30_000;
/** Most output bytes one read answers: well under NATS's 1 MiB message. */
const MAX_READ_BYTES = 256 * 1024;
/** Longest a read waits for output. */
const MAX_WAIT_MS = 10_000;
/** Most stdin bytes one write may carry. */
const MAX_STDIN_BYTES = 256 * 1024;

interface OpenExec {
  session: ExecSession;
  sub: Subscription;
  idle: NodeJS.Timeout | undefined;
  reading: boolean;
  writing: boolean;
  resize: (width: number, height: number) => Promise<void>;
}

/**
 * Serves ExecStreamService: starts a Docker exec with its streams attached and answers
 * the reads, stdin writes, resizes and close on each exec's own subject.
 */
@injectable()
export class ExecStreamServer implements Runnable {
  private readonly open = new Map<string, OpenExec>();

  constructor(
    @inject(TOKENS.MicroService) private readonly micro: Service,
    @inject(TOKENS.Nats) private readonly nc: NatsConnection,
    @inject(TOKENS.NodeName) private readonly nodeName: string,
    @inject(RT.Docker) private readonly docker: DockerApi,
    @inject(Owned) private readonly owned: Owned,
    @inject(TOKENS.Logger) private readonly logger: Logger,
  ) {}

  async run(signal: AbortSignal): Promise<void> {
    serveRpc(
      this.micro,
      this.nodeName,
      ExecStreamService,
      {
        openExec: async (req) => ({ streamId: await this.openExec(req) }),
        openPortForward: async (req) => ({ streamId: await this.openPortForward(req) }),
        openAttach: (req) => this.openAttach(req),
      },
      { logger: this.logger },
    );
    await untilAborted(signal);
    for (const id of [...this.open.keys()]) this.closeExec(id, 'executor stopping');
  }

  /** How many execs are open (for tests and metrics). */
  get openCount(): number {
    return this.open.size;
  }

  private async openExec(req: OpenExecRequest): Promise<string> {
    if (!req.cmd.length || req.cmd.some((a) => a.includes('\0'))) throw new HandlerError(ErrorCode.InvalidArgument, 'cmd must have at least one element and no NUL byte');
    if (!req.stdin && !req.stdout && !req.stderr) throw new HandlerError(ErrorCode.InvalidArgument, 'at least one of stdin, stdout, stderr is required');
    // The id ends up in Docker's URL path: only an id this executor could have answered with.
    const c = await this.owned.inspect(requireContainerId(req.containerId, 'container'), TYPE_CONTAINER);
    if (!c) throw new HandlerError(ErrorCode.NotFound, `No such container: ${req.containerId}`);
    if (!c.State.Running) throw new HandlerError(ErrorCode.FailedPrecondition, `container ${c.Id} is not running`);
    const tty = req.tty;
    const exec = await dockerCall(() =>
      this.docker.getContainer(c.Id).exec({
        Cmd: req.cmd,
        AttachStdin: req.stdin,
        AttachStdout: req.stdout,
        AttachStderr: req.stderr && !tty,
        Tty: tty,
        // API ≥ 1.42 starts the terminal at this size; older engines (the lab's 20.10: 1.41)
        // ignore it, and the resize right after the start leaves a few milliseconds of 0x0.
        ...(tty && req.size?.width && req.size.height ? { ConsoleSize: [req.size.height, req.size.width] } : {}),
      } as Docker.ExecCreateOptions),
    );
    const stream = (await dockerCall(() => exec.start({ hijack: true, stdin: req.stdin, Tty: tty }))) as Duplex;
    const session = new ExecSession(stream, { tty, exitCode: () => exitCodeOf(exec) });
    const resize = async (w: number, h: number) => {
      await dockerCall(() => exec.resize({ w, h }));
    };
    // The start answers once the connection is hijacked, maybe before the process runs, and
    // a resize before that fails: retried as the docker CLI's initTtySize does.
    if (tty && req.size?.width && req.size.height) await initialResize(() => resize(req.size!.width, req.size!.height));
    const id = this.register(session, resize);
    this.logger.info({ container: c.Id, stream: id, tty, stdin: req.stdin }, 'exec opened');
    return id;
  }

  /**
   * The CRI's Attach: the running container's own stdin, stdout and stderr from now on
   * (Docker's attach, no earlier output), framed as the container was created (a
   * terminal or not). Its end is the container's streams' end: a successful attach.
   */
  private async openAttach(req: OpenAttachRequest): Promise<{ streamId: string; tty: boolean }> {
    if (!req.stdin && !req.stdout && !req.stderr) throw new HandlerError(ErrorCode.InvalidArgument, 'at least one of stdin, stdout, stderr is required');
    const c = await this.owned.inspect(requireContainerId(req.containerId, 'container'), TYPE_CONTAINER);
    if (!c) throw new HandlerError(ErrorCode.NotFound, `No such container: ${req.containerId}`);
    if (!c.State.Running) throw new HandlerError(ErrorCode.FailedPrecondition, `container ${c.Id} is not running`);
    const tty = Boolean(c.Config.Tty);
    const container = this.docker.getContainer(c.Id);
    // stdin only where the container has one: Docker would otherwise take the bytes and drop them.
    const stdin = req.stdin && Boolean(c.Config.OpenStdin);
    const stream = (await dockerCall(() => container.attach({ stream: true, hijack: true, stdin, stdout: req.stdout, stderr: req.stderr && !tty, logs: false }))) as Duplex;
    // The client's end of stdin closes the container's only with stdinOnce (and no
    // terminal), as containerd's attach (cio's StdinOnce): Docker's attach would otherwise
    // close the attach's stdout and stderr at once, and what the container writes after
    // reading its input was lost (kubectl debug -i: "got hello" came back empty).
    const session = new ExecSession(stream, { tty, exitCode: async () => 0, stdinEndCloses: Boolean(c.Config.StdinOnce) && !tty });
    const resize = async (w: number, h: number) => {
      if (!tty) throw new Error('the container has no terminal');
      await dockerCall(() => container.resize({ w, h }));
    };
    if (tty && req.size?.width && req.size.height) await resize(req.size.width, req.size.height).catch(() => undefined);
    const id = this.register(session, resize);
    this.logger.info({ container: c.Id, stream: id, tty, stdin }, 'attach opened');
    return { streamId: id, tty };
  }

  /** The CRI's PortForward: a connection to the port on the loopback of the pod's running sandbox. */
  private async openPortForward(req: OpenPortForwardRequest): Promise<string> {
    if (!Number.isInteger(req.port) || req.port < 1 || req.port > 65535) throw new HandlerError(ErrorCode.InvalidArgument, `invalid port ${req.port}: 1..65535 expected`);
    if (!/^[a-z0-9]([a-z0-9-]{0,62}[a-z0-9])?$/.test(req.podUid)) throw new HandlerError(ErrorCode.InvalidArgument, `invalid pod uid ${JSON.stringify(req.podUid.slice(0, 80))}`);
    const running = (await this.owned.list(TYPE_SANDBOX, { [LABEL.podUid]: req.podUid })).filter((s) => s.State === 'running').sort((a, b) => b.Created - a.Created);
    const sandbox = running[0] ? await this.owned.inspect(running[0].Id, TYPE_SANDBOX) : undefined;
    if (!sandbox?.State.Running || !sandbox.State.Pid) throw new HandlerError(ErrorCode.NotFound, `no running pod sandbox for pod ${req.podUid}`);
    const conn: ForwardedConnection = this.connect(sandbox.State.Pid, req.port);
    const session = new ExecSession(conn.stream, { tty: true, exitCode: conn.done });
    const id = this.register(session, async () => {
      throw new Error('a port-forward has no terminal');
    });
    this.logger.info({ sandbox: sandbox.Id, port: req.port, stream: id }, 'port-forward opened');
    return id;
  }

  /** How a port is reached inside a sandbox's network namespace; tests replace it. */
  connect: (pid: number, port: number) => ForwardedConnection = connectInNetns;

  private register(session: ExecSession, resize: OpenExec['resize']): string {
    const id = randomBytes(12).toString('hex');
    const sub = this.nc.subscribe(execStreamSubject(this.nodeName, id), { callback: (err, msg) => (err ? this.closeExec(id, 'subscription failed') : void this.handle(id, msg)) });
    this.open.set(id, { session, sub, idle: undefined, reading: false, writing: false, resize });
    this.touch(id);
    return id;
  }

  private async handle(id: string, msg: Msg): Promise<void> {
    const x = this.open.get(id);
    if (!x) return this.answer(msg, { error: 'no such exec stream' });
    let req: ExecStreamRequest;
    try {
      req = fromBinary(ExecStreamRequestSchema, msg.data);
    } catch {
      return this.answer(msg, { error: 'malformed ExecStreamRequest' });
    }
    this.touch(id);
    switch (req.op) {
      case ExecStreamOp.READ: {
        if (x.reading) return this.answer(msg, { error: 'a read is already waiting on this exec' });
        x.reading = true;
        clearTimeout(x.idle);
        const out = await x.session.read(Math.min(req.maxBytes || MAX_READ_BYTES, MAX_READ_BYTES), Math.min(req.waitMs, MAX_WAIT_MS));
        x.reading = false;
        this.answer(msg, out);
        if (out.exited || out.error) this.closeExec(id, out.error ? `failed: ${out.error}` : `exited ${out.exitCode}`);
        else this.touch(id);
        return;
      }
      case ExecStreamOp.WRITE_STDIN: {
        if (x.writing) return this.answer(msg, { error: 'a stdin write is already waiting on this exec' });
        if (req.stdin.length > MAX_STDIN_BYTES) return this.answer(msg, { error: `stdin writes carry at most ${MAX_STDIN_BYTES} bytes` });
        x.writing = true;
        try {
          await x.session.writeStdin(req.stdin);
          this.answer(msg, {});
        } catch (err) {
          this.answer(msg, { error: (err as Error).message });
        } finally {
          x.writing = false;
        }
        return;
      }
      case ExecStreamOp.CLOSE_STDIN:
        x.session.closeStdin();
        return this.answer(msg, {});
      case ExecStreamOp.RESIZE: {
        const { width = 0, height = 0 } = req.size ?? {};
        if (!width || !height || width > 0xffff || height > 0xffff) return this.answer(msg, { error: 'resize needs a width and height of 1..65535' });
        try {
          await x.resize(width, height);
          this.answer(msg, {});
        } catch (err) {
          this.answer(msg, { error: (err as Error).message });
        }
        return;
      }
      case ExecStreamOp.CLOSE:
        this.closeExec(id, 'closed by its caller');
        return this.answer(msg, {});
      default:
        return this.answer(msg, { error: `unknown op ${req.op}` });
    }
  }

  private answer(msg: Msg, r: { stdout?: Uint8Array; stderr?: Uint8Array; exited?: boolean; exitCode?: number; error?: string }): void {
    msg.respond(toBinary(ExecStreamResponseSchema, create(ExecStreamResponseSchema, r)));
  }

  // Restarts the idle timer; a read that waits holds it off.
  private touch(id: string): void {
    const x = this.open.get(id);
    if (!x) return;
    clearTimeout(x.idle);
    if (x.reading) return;
    x.idle = setTimeout(() => this.closeExec(id, 'not driven for too long'), EXEC_IDLE_MS);
  }

  private closeExec(id: string, why: string): void {
    const x = this.open.get(id);
    if (!x) return;
    this.open.delete(id);
    clearTimeout(x.idle);
    x.session.close();
    x.sub.unsubscribe();
    this.logger.info({ stream: id, why }, 'exec closed');
  }
}

async function exitCodeOf(exec: { inspect(): Promise<{ Running: boolean; ExitCode: number | null }> }): Promise<number> {
  // Docker may still show the exec running for a moment after its output ended.
  for (let i = 0; i < 100; i++) {
    const info = await dockerCall(() => exec.inspect());
    if (!info.Running && info.ExitCode !== null) return info.ExitCode;
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error('exec ended but Docker reports it still running');
}

async function initialResize(resize: () => Promise<void>): Promise<void> {
  for (let attempt = 1; attempt <= 10; attempt++) {
    try {
      return await resize();
    } catch {
      await new Promise((r) => setTimeout(r, 10 * attempt));
    }
  }
}
