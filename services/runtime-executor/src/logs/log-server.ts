import { randomBytes } from 'node:crypto';
import type { Readable } from 'node:stream';
import { inject, injectable } from 'tsyringe';
import type { Service } from '@nats-io/services';
import type { Msg, NatsConnection, Subscription } from '@nats-io/transport-node';
import { containerLogStreamSubject, ErrorCode, HandlerError, serveRpc } from '@splitlet/bus';
import { ContainerLogService, LogStream, create, fromBinary, ReadContainerLogRequestSchema, ReadContainerLogResponseSchema, toBinary, type OpenContainerLogRequest } from '@splitlet/contracts';
import { TOKENS, untilAborted, type Runnable } from '@splitlet/service';
import type { Logger } from '@splitlet/telemetry';
import { dockerCall, type DockerApi } from '../docker';
import { TYPE_CONTAINER } from '../docker-mapping';
import { Owned } from '../owned';
import { requireContainerId } from '../request-validation';
import { RT } from '../tokens';
import { dockerSince } from './log-format';
import { LogSession } from './log-session';

/** A stream nobody pulled for this long is closed (its reader died without closing it). */
export const LOG_IDLE_MS = 30_000;
/** Most bytes one pull answers: well under NATS's 1 MiB message. */
const MAX_PULL_BYTES = 256 * 1024;
/** Longest a pull waits for bytes: well under LOG_IDLE_MS. */
const MAX_WAIT_MS = 10_000;

interface OpenLog {
  session: LogSession;
  sub: Subscription;
  idle: NodeJS.Timeout;
  reading: boolean;
}

/** Serves ContainerLogService: opens Docker log streams and answers pulls on each stream's subject. */
@injectable()
export class ContainerLogServer implements Runnable {
  private readonly open = new Map<string, OpenLog>();

  constructor(
    @inject(TOKENS.MicroService) private readonly micro: Service,
    @inject(TOKENS.Nats) private readonly nc: NatsConnection,
    @inject(TOKENS.NodeName) private readonly nodeName: string,
    @inject(RT.Docker) private readonly docker: DockerApi,
    @inject(Owned) private readonly owned: Owned,
    @inject(TOKENS.Logger) private readonly logger: Logger,
  ) {}

  async run(signal: AbortSignal): Promise<void> {
    serveRpc(this.micro, this.nodeName, ContainerLogService, { openContainerLog: async (req) => ({ streamId: await this.openLog(req) }) }, { logger: this.logger });
    await untilAborted(signal);
    for (const id of [...this.open.keys()]) this.closeLog(id);
  }

  /** How many logs are open (for tests and metrics). */
  get openCount(): number {
    return this.open.size;
  }

  private async openLog(req: OpenContainerLogRequest): Promise<string> {
    // The id ends up in Docker's URL path: only an id this executor could have answered with.
    const c = await this.owned.inspect(requireContainerId(req.containerId, 'container'), TYPE_CONTAINER);
    if (!c) throw new HandlerError(ErrorCode.NotFound, `No such container: ${req.containerId}`);
    const o = req.options;
    const tail = o?.tailLines;
    if (tail !== undefined && tail < 0n) throw new HandlerError(ErrorCode.InvalidArgument, 'tail_lines must not be negative');
    // Both streams are always read: Docker's tail counts the lines of both, as the kubelet's log file holds both.
    const query = {
      stdout: true,
      stderr: true,
      timestamps: true,
      follow: o?.follow ?? false,
      ...(tail !== undefined ? { tail: Number(tail) } : {}),
      ...(o?.sinceUnixNano ? { since: dockerSince(o.sinceUnixNano) } : {}),
    };
    const stream = await dockerCall(() => logStream(this.docker, c.Id, query));
    const only = o?.stream === LogStream.STDOUT ? 1 : o?.stream === LogStream.STDERR ? 2 : undefined;
    const session = new LogSession(stream, { tty: Boolean(c.Config.Tty), timestamps: o?.timestamps ?? false, limitBytes: Number(o?.limitBytes ?? 0n), ...(only ? { only } : {}) });
    const id = randomBytes(12).toString('hex');
    const sub = this.nc.subscribe(containerLogStreamSubject(this.nodeName, id), { callback: (err, msg) => (err ? this.closeLog(id) : void this.pull(id, msg)) });
    this.open.set(id, { session, sub, idle: this.idleTimer(id), reading: false });
    this.logger.info({ container: c.Id, stream: id, follow: query.follow }, 'container log opened');
    return id;
  }

  private async pull(id: string, msg: Msg): Promise<void> {
    const log = this.open.get(id);
    if (!log) return;
    let req;
    try {
      req = fromBinary(ReadContainerLogRequestSchema, msg.data);
    } catch {
      this.answer(msg, Buffer.alloc(0), false, 'malformed ReadContainerLogRequest');
      return;
    }
    if (req.close) {
      this.closeLog(id);
      this.answer(msg, Buffer.alloc(0), true, '');
      return;
    }
    if (log.reading) {
      this.answer(msg, Buffer.alloc(0), false, 'a pull is already waiting on this stream');
      return;
    }
    clearTimeout(log.idle);
    log.reading = true;
    const chunk = await log.session.read(Math.min(req.maxBytes || MAX_PULL_BYTES, MAX_PULL_BYTES), Math.min(req.waitMs, MAX_WAIT_MS));
    log.reading = false;
    this.answer(msg, chunk.data, chunk.eof, chunk.error);
    if (chunk.eof) this.closeLog(id);
    else if (this.open.has(id)) log.idle = this.idleTimer(id);
  }

  private answer(msg: Msg, data: Buffer, eof: boolean, error: string): void {
    msg.respond(toBinary(ReadContainerLogResponseSchema, create(ReadContainerLogResponseSchema, { data, eof, error })));
  }

  private idleTimer(id: string): NodeJS.Timeout {
    return setTimeout(() => {
      this.logger.info({ stream: id }, 'container log not pulled for too long; closed');
      this.closeLog(id);
    }, LOG_IDLE_MS);
  }

  private closeLog(id: string): void {
    const log = this.open.get(id);
    if (!log) return;
    this.open.delete(id);
    clearTimeout(log.idle);
    log.session.close();
    log.sub.unsubscribe();
    this.logger.info({ stream: id }, 'container log closed');
  }
}

/**
 * Docker's GET /containers/{id}/logs as a stream, with or without follow: dockerode's
 * logs() reads the whole answer into one Buffer unless it follows, and a log may be
 * gigabytes; its own request, made as a stream, keeps the window's bound.
 */
function logStream(docker: DockerApi, id: string, query: Record<string, unknown>): Promise<Readable> {
  const modem = (docker.getContainer(id) as unknown as { modem: DockerModem }).modem;
  return new Promise((resolve, reject) =>
    modem.dial(
      { path: `/containers/${id}/logs?`, method: 'GET', isStream: true, statusCodes: { 200: true, 404: 'no such container', 500: 'server error' }, options: query },
      (err, stream) => (err ? reject(err) : resolve(stream as Readable)),
    ),
  );
}

/** The part of docker-modem (dockerode's HTTP client) used here. */
interface DockerModem {
  dial(opts: Record<string, unknown>, cb: (err: unknown, stream?: unknown) => void): void;
}
