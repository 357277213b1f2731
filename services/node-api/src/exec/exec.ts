import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import type { V1Pod } from '@kubernetes/client-node';
import type { NatsConnection } from '@nats-io/transport-node';
import type { ServiceClient } from '@splitlet/bus';
import type { ExecStreamService } from '@splitlet/contracts';
import type { Logger } from '@splitlet/telemetry';
import type { PodSource } from '../logs/container-logs';
import { plain } from '../logs/container-logs';
import { rawResponse } from '../server';
import type { InputStream } from '../streaming';
import { isWebSocketRequest } from '../wsstream/channel-conn';
import { ExecStream, stdinWrites } from './exec-stream';
import { exitStatus, internalError, negotiate, REMOTECOMMAND_PROTOCOLS, statusBytes, streamOptions, upgradeRemoteCommand, upgradeRemoteCommandWebSocket, type ExecStatus, type RemoteCommandStreams, type StreamOptions } from './remotecommand';

export interface ExecDeps {
  pods: PodSource;
  exec: ServiceClient<typeof ExecStreamService>;
  nc: NatsConnection;
  nodeName: string;
  logger: Logger;
  /** How long the client has to create its streams (the kubelet's 30 s). */
  streamCreationTimeoutMs?: number;
}

type Target = { ok: true; containerId: string; cmd: string[]; opts: StreamOptions } | { ok: false; status: number; message: string };

/**
 * Which container and command an /exec request names: pkg/kubelet/server's getExec
 * (its 400 and 404) and the kubelet's findContainer (a container that is not running
 * is "not found", 500 as streaming.WriteError writes it).
 * Params: [namespace, pod, container] or [namespace, pod, uid, container].
 */
export function execTarget(pods: PodSource, url: URL, params: string[]): Target {
  const r = requested(pods, url, params);
  if (!r.ok) return r;
  const { pod, uid, container, opts } = r;
  const cmd = url.searchParams.getAll('command');
  const id = uid && pod.metadata?.uid !== uid ? undefined : runningContainerId(pod, container);
  if (!id) return { ok: false, status: 500, message: `container not found (${JSON.stringify(container)})` };
  if (!cmd.length) return { ok: false, status: 500, message: 'error executing command in container: cmd is required' };
  return { ok: true, containerId: id, cmd, opts };
}

/** What /exec and /attach both check first: the streams asked for (400) and the pod (404). */
function requested(pods: PodSource, url: URL, params: string[]): { ok: true; pod: V1Pod; uid: string | undefined; container: string; opts: StreamOptions } | { ok: false; status: number; message: string } {
  const opts = streamOptions(url.searchParams);
  if (!opts) return { ok: false, status: 400, message: 'you must specify at least 1 of stdin, stdout, stderr' };
  const pod = pods.get(params[0]!, params[1]!);
  if (!pod) return { ok: false, status: 404, message: 'pod does not exist' };
  return { ok: true, pod, uid: params.length === 4 ? params[2] : undefined, container: params[params.length - 1]!, opts };
}

function runningContainerId(pod: V1Pod, name: string): string | undefined {
  const s = pod.status;
  const status = [...(s?.containerStatuses ?? []), ...(s?.initContainerStatuses ?? []), ...(s?.ephemeralContainerStatuses ?? [])].find((c) => c.name === name);
  if (!status?.state?.running || !status.containerID) return undefined;
  return /^[a-z0-9_-]+:\/\/(.+)$/i.exec(status.containerID)?.[1];
}

type AttachTarget = { ok: true; containerId: string; opts: StreamOptions } | { ok: false; status: number; message: string };

/**
 * Which running container an /attach request names: pkg/kubelet/server's getAttach (its
 * 400 and 404) and the kubelet's GetAttach (a container that is not running is not
 * found, 500). Params: [namespace, pod, container] or [namespace, pod, uid, container].
 */
export function attachTarget(pods: PodSource, url: URL, params: string[]): AttachTarget {
  const r = requested(pods, url, params);
  if (!r.ok) return r;
  const { pod, uid, container, opts } = r;
  const [namespace, podName] = params as [string, string];
  if (uid && pod.metadata?.uid !== uid) return { ok: false, status: 500, message: `pod ${podName}_${namespace} not found` };
  const id = runningContainerId(pod, container);
  if (!id) return { ok: false, status: 500, message: `container ${container} not found in pod ${podName}_${namespace}` };
  return { ok: true, containerId: id, opts };
}

/** What differs between /exec and /attach: the target, how the session is opened, its final status. */
interface RemoteCommand<T extends { ok: true; containerId: string; opts: StreamOptions }> {
  what: 'exec' | 'attach';
  target: (pods: PodSource, url: URL, params: string[]) => T | { ok: false; status: number; message: string };
  open: (deps: ExecDeps, t: T, size: { width: number; height: number } | undefined, attributes: Record<string, string>) => Promise<{ streamId: string }>;
  /** The status for how the session ended (an exit code, or the client gone). */
  status: (t: T, end: ExecStatus | { exitCode: number }) => ExecStatus;
  /** The words before a failure's message (apierrors.NewInternalError as ServeExec / ServeAttach write it). */
  doing: string;
}

const EXEC: RemoteCommand<Extract<Target, { ok: true }>> = {
  what: 'exec',
  target: execTarget,
  open: (deps, t, size, attributes) =>
    deps.exec.openExec({ containerId: t.containerId, cmd: t.cmd, stdin: t.opts.stdin, stdout: t.opts.stdout, stderr: t.opts.stderr, tty: t.opts.tty, ...(size ? { size } : {}) }, { attributes }),
  status: (t, end) => ('exitCode' in end ? exitStatus(end.exitCode, t.cmd) : end),
  doing: 'error executing command in container',
};

const ATTACH: RemoteCommand<Extract<AttachTarget, { ok: true }>> = {
  what: 'attach',
  target: attachTarget,
  open: (deps, t, size, attributes) => deps.exec.openAttach({ containerId: t.containerId, stdin: t.opts.stdin, stdout: t.opts.stdout, stderr: t.opts.stderr, ...(size ? { size } : {}) }, { attributes }),
  // ServeAttach writes Success once the container's streams end: an attach has no exit code.
  status: (_t, end) => ('exitCode' in end ? { status: 'Success' } : end),
  doing: 'error attaching to container',
};

/** Without an upgrade: what the kubelet's handshake answers (after the target's own refusals). */
function serveWithoutUpgrade<T extends { ok: true; containerId: string; opts: StreamOptions }>(c: RemoteCommand<T>, deps: ExecDeps, req: IncomingMessage, res: ServerResponse, url: URL, params: string[]): Promise<void> {
  const t = c.target(deps.pods, url, params);
  if (!t.ok) return Promise.resolve(plain(res, t.status, t.message));
  const n = negotiate(req, REMOTECOMMAND_PROTOCOLS);
  plain(res, 'status' in n ? n.status : 400, 'status' in n ? n.message : 'unable to upgrade: missing upgrade headers in request');
  return Promise.resolve();
}

/**
 * The remote command protocol over SPDY or a WebSocket, as the kubelet's ServeExec and
 * ServeAttach: the upgrade, the client's streams (SPDY) or channels (WebSocket), the
 * session on runtime-executor (ExecStreamService) driven over NATS with flow control both
 * ways, the status on the error stream. A client that goes away closes the session's streams.
 */
async function serveUpgraded<T extends { ok: true; containerId: string; opts: StreamOptions }>(c: RemoteCommand<T>, deps: ExecDeps, req: IncomingMessage, socket: Duplex, head: Buffer, url: URL, params: string[]): Promise<void> {
  const t = c.target(deps.pods, url, params);
  if (!t.ok) return rawResponse(socket, t.status, t.message);
  const session = isWebSocketRequest(req) ? await upgradeRemoteCommandWebSocket(req, socket, head, t.opts) : await upgradeRemoteCommand(req, socket, head, t.opts, deps.streamCreationTimeoutMs);
  if (!session) return;
  const log = { pod: `${params[0]}/${params[1]}`, container: params[params.length - 1], protocol: session.protocol };
  let status: ExecStatus;
  try {
    // kubectl sends the terminal's size right after creating the streams: with it, the
    // session is sized as it starts instead of after the first output was read.
    const resizes = session.resize ? new TerminalSizes(session.resize) : undefined;
    const size = resizes ? await resizes.next(FIRST_SIZE_WAIT_MS) : undefined;
    const attributes = { 'k8s.pod.name': params[1]!, 'k8s.namespace.name': params[0]!, 'k8s.container.name': log.container!, 'container.id': t.containerId };
    const { streamId } = await c.open(deps, t, size, attributes);
    status = c.status(t, await drive(new ExecStream(deps.nc, deps.nodeName, streamId), session, resizes));
  } catch (err) {
    deps.logger.warn({ ...log, err: (err as Error).message }, `${c.what} failed`);
    status = internalError((err as Error).message, c.doing);
  }
  finishSession(session, status);
}

/** Ends a remote command session as the kubelet's writeStatus: the output streams, the status on the error stream, the connection. */
function finishSession(session: RemoteCommandStreams, status: ExecStatus): void {
  if (session.conn.isClosed) return;
  session.stdout?.end();
  session.stderr?.end();
  const bytes = statusBytes(session.protocol, status);
  if (bytes && session.error) session.error.write(bytes);
  session.error?.end();
  session.conn.close();
}

/** /exec without an upgrade: what the kubelet's handshake answers. */
export const serveExecWithoutUpgrade = (deps: ExecDeps, req: IncomingMessage, res: ServerResponse, url: URL, params: string[]) => serveWithoutUpgrade(EXEC, deps, req, res, url, params);

/** GET/POST /exec/{namespace}/{pod}[/{uid}]/{container}?command=…: the kubelet's ServeExec over SPDY, or a WebSocket (GET). */
export const serveExec = (deps: ExecDeps, req: IncomingMessage, socket: Duplex, head: Buffer, url: URL, params: string[]) => serveUpgraded(EXEC, deps, req, socket, head, url, params);

/** /attach without an upgrade: what the kubelet's handshake answers. */
export const serveAttachWithoutUpgrade = (deps: ExecDeps, req: IncomingMessage, res: ServerResponse, url: URL, params: string[]) => serveWithoutUpgrade(ATTACH, deps, req, res, url, params);

/**
 * GET/POST /attach/{namespace}/{pod}[/{uid}]/{container}: the kubelet's ServeAttach over
 * SPDY or a WebSocket (GET) — the container's own stdin, stdout and stderr from now on (runtime-executor's
 * OpenAttach). It ends with Success when the container's streams end; a client that goes
 * away detaches, and the container runs on.
 */
export const serveAttach = (deps: ExecDeps, req: IncomingMessage, socket: Duplex, head: Buffer, url: URL, params: string[]) => serveUpgraded(ATTACH, deps, req, socket, head, url, params);

/**
 * Copies the exec's output to the client's stdout/stderr streams (the next read only
 * once the socket drained) and the client's stdin and resizes to the exec, until the
 * process exits (its exit code) or the client goes away (the exec is closed).
 */
async function drive(x: ExecStream, s: RemoteCommandStreams, resizes: TerminalSizes | undefined): Promise<ExecStatus | { exitCode: number }> {
  const gone = new AbortController();
  const onClose = () => {
    gone.abort();
    x.close();
  };
  s.conn.once('close', onClose);
  // The client may have gone while the exec was being opened.
  if (s.conn.isClosed) onClose();
  // The client's stdin and resizes go on beside the output; their failures end nothing by themselves.
  if (s.stdin) void pumpStdin(x, s.stdin, gone.signal);
  if (resizes) void pumpResizes(x, resizes, gone.signal);
  try {
    for (;;) {
      if (gone.signal.aborted) return { status: 'Failure', message: 'client went away' };
      const out = await x.read();
      if (out.stdout.length && s.stdout && !s.stdout.write(out.stdout)) await s.conn.drained();
      if (out.stderr.length && s.stderr && !s.stderr.write(out.stderr)) await s.conn.drained();
      if (out.exited) return { exitCode: out.exitCode };
    }
  } finally {
    s.conn.off('close', onClose);
  }
}

async function pumpStdin(x: ExecStream, stdin: InputStream, signal: AbortSignal): Promise<void> {
  try {
    for await (const chunk of stdinWrites(stdin.readable)) {
      if (signal.aborted) return;
      await x.write(chunk);
    }
    // The client half-closed stdin (kubectl at its stdin's end): the process reads end of file.
    if (!signal.aborted) await x.closeStdin();
  } catch {
    // A reset stdin stream or a write after the process ended: the output loop decides the end.
  }
}

/** How long an exec with a terminal waits for the client's first size before it starts. */
const FIRST_SIZE_WAIT_MS = 1_000;

/** The resize stream's sizes: JSON TerminalSize objects ({"Width":…,"Height":…}), one after another; bad ones skipped. */
async function* resizeEvents(resize: InputStream): AsyncGenerator<{ width: number; height: number }> {
  let pending = '';
  try {
    for await (const chunk of resize.readable as AsyncIterable<Buffer>) {
      pending += chunk.toString('utf8');
      for (const { value, rest } of jsonObjects(pending)) {
        pending = rest;
        const size = value as { Width?: unknown; Height?: unknown };
        if (typeof size.Width === 'number' && typeof size.Height === 'number' && size.Width > 0 && size.Height > 0) yield { width: size.Width, height: size.Height };
      }
      if (pending.length > 4096) return; // not a stream of small objects
    }
  } catch {
    // As the kubelet's handleResizeEvents: a bad stream ends the resizes, not the exec.
  } finally {
    // What else comes on it is read and dropped: left unread, it would hold back the
    // connection it shares with stdin and the output once its buffers fill.
    resize.readable.resume();
  }
}

type Size = { width: number; height: number };

/**
 * The client's terminal sizes as they come: `next(ms)` gives the newest not yet taken,
 * undefined after `ms` or at the end. Only the newest waits (a terminal has one size;
 * a client resizing faster than the exec follows holds no queue).
 */
class TerminalSizes {
  private readonly queue: Size[] = [];
  private ended = false;
  private wake: (() => void) | undefined;

  constructor(resize: InputStream) {
    void (async () => {
      for await (const size of resizeEvents(resize)) {
        this.queue.splice(0, this.queue.length, size);
        this.wake?.();
      }
      this.ended = true;
      this.wake?.();
    })();
  }

  get done(): boolean {
    return this.ended && !this.queue.length;
  }

  async next(ms = Infinity): Promise<Size | undefined> {
    if (!this.queue.length && !this.ended) {
      await new Promise<void>((resolve) => {
        const timer = ms === Infinity ? undefined : setTimeout(resolve, ms);
        this.wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      this.wake = undefined;
    }
    return this.queue.shift();
  }
}

async function pumpResizes(x: ExecStream, sizes: TerminalSizes, signal: AbortSignal): Promise<void> {
  while (!signal.aborted && !sizes.done) {
    const size = await sizes.next();
    if (size && !signal.aborted) await x.resize(size.width, size.height).catch(() => undefined);
  }
}

/** Complete top-level JSON objects at the start of `text` (Go's json.Encoder writes one per line). */
function* jsonObjects(text: string): Generator<{ value: unknown; rest: string }> {
  let rest = text;
  for (;;) {
    const start = rest.indexOf('{');
    if (start < 0) return;
    let depth = 0;
    let inString = false;
    let end = -1;
    for (let i = start; i < rest.length; i++) {
      const c = rest[i];
      if (inString) {
        if (c === '\\') i++;
        else if (c === '"') inString = false;
      } else if (c === '"') inString = true;
      else if (c === '{') depth++;
      else if (c === '}' && --depth === 0) {
        end = i;
        break;
      }
    }
    if (end < 0) return;
    let value: unknown;
    try {
      value = JSON.parse(rest.slice(start, end + 1));
    } catch {
      value = undefined;
    }
    rest = rest.slice(end + 1);
    yield { value: value ?? {}, rest };
  }
}
