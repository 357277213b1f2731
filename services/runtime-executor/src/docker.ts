import { ErrorCode, HandlerError } from '@splitlet/bus';
import Docker from 'dockerode';

/** The part of the Docker API the executor uses; dockerode provides it, tests fake it. */
export type DockerApi = Pick<Docker, 'version' | 'info' | 'listImages' | 'listContainers' | 'createContainer' | 'getContainer' | 'getImage' | 'pull' | 'getEvents'>;

/**
 * How long a Docker call may take before the executor gives it up: the kubelet's
 * `--runtime-request-timeout` default (2 min), which bounds its CRI calls the same way.
 */
export const DEFAULT_DOCKER_REQUEST_TIMEOUT_MS = 120_000;

export function connectDocker(dockerHost: string, opts: { requestTimeoutMs?: number } = {}): Docker {
  let docker: Docker;
  if (dockerHost.startsWith('unix://')) docker = new Docker({ socketPath: dockerHost.slice('unix://'.length) });
  else {
    const url = new URL(dockerHost.replace(/^tcp:/, 'http:'));
    docker = new Docker({ host: url.hostname, port: Number(url.port || 2375) });
  }
  guardRequests(docker.modem, opts.requestTimeoutMs ?? DEFAULT_DOCKER_REQUEST_TIMEOUT_MS);
  return docker;
}

type ModemCallback = (err: Error | null, result: unknown) => void;
type BuildRequest = (options: { path?: string }, context: { isStream?: boolean; hijack?: boolean }, data: unknown, callback: ModemCallback) => void;

/**
 * Two guards on every request docker-modem sends.
 *
 * Redirects are refused. docker-modem follows a 3xx itself (its lib/http.js, after
 * follow-redirects): Docker answers 301 to a path that is not clean
 * ("/containers/../info/json"), and the follower requests the Location resolved
 * against a URL without the socket — host "containers" — on a ClientRequest nobody
 * listens to for 'error': the DNS failure is thrown as an unhandled 'error' event and
 * the process exits. Docker's API never redirects a request it serves, so none is
 * followed: with maxRedirects 0 the follower fails the original request (whose
 * 'error' docker-modem handles) instead, and the call rejects with a DockerRedirectError.
 *
 * A call Docker does not answer is given up after `timeoutMs`, as the kubelet's CRI
 * client gives up a call after its runtime request timeout: the request is aborted,
 * its connection closed, and the call rejects with a DockerTimeoutError. Without it a
 * Docker engine that stops answering (one wedged under load did) holds one open
 * connection and one pending handler per call, without end. A stop waits up to its
 * `t` seconds before Docker kills the container: its deadline is that much longer.
 * Streams (events, followed logs, pulls) and hijacked connections (exec, attach) live
 * as long as their caller keeps them: no deadline here.
 */
export function guardRequests(modem: Docker['modem'], timeoutMs: number): void {
  const m = modem as unknown as { buildRequest: BuildRequest };
  const build = m.buildRequest.bind(modem);
  m.buildRequest = (options, context, data, callback) => {
    let timer: NodeJS.Timeout | undefined;
    let deadline: AbortController | undefined;
    if (!context.isStream && !context.hijack) {
      deadline = new AbortController();
      const ms = Math.min(MAX_TIMER_MS, timeoutMs + stopGraceMs(options.path));
      timer = setTimeout(() => deadline!.abort(new DockerTimeoutError(ms)), ms);
    }
    build({ ...options, ...(deadline ? { signal: deadline.signal } : {}), maxRedirects: 0 } as typeof options, context, data, (err, result) => {
      clearTimeout(timer);
      callback(err ? guardError(err, deadline?.signal) : null, result);
    });
  };
}

/** Past the longest delay a Node timer keeps (2^31 - 1 ms, 24.8 days) it would fire at once. */
const MAX_TIMER_MS = 2 ** 31 - 1;

/** The `t` (seconds) of a stop or restart: how long Docker waits before it kills. */
function stopGraceMs(path: string | undefined): number {
  const t = /\/(?:stop|restart)\?(?:[^#]*&)?t=(\d+)/.exec(path ?? '')?.[1];
  return t === undefined ? 0 : Number(t) * 1000;
}

function guardError(err: Error, deadline: AbortSignal | undefined): Error {
  if (isRedirectRefusal(err)) return new DockerRedirectError({ cause: err });
  return deadline?.aborted && deadline.reason instanceof DockerTimeoutError ? deadline.reason : err;
}

/** Docker did not answer within the call's deadline; the request was aborted. */
export class DockerTimeoutError extends Error {
  override readonly name = 'DockerTimeoutError';
  constructor(timeoutMs: number) {
    super(`docker did not answer within ${timeoutMs / 1000} s`);
  }
}

/**
 * docker-modem's error for a redirect not followed carries no code or status, only
 * this message (lib/http.js); it is matched here, at the one place it can arise.
 */
const isRedirectRefusal = (err: Error) => err.message.startsWith('Max redirects exceeded');

/** Docker answered a redirect: the request's path was not a clean one (an id or reference with "/", ".."). */
export class DockerRedirectError extends Error {
  override readonly name = 'DockerRedirectError';
  constructor(options?: ErrorOptions) {
    super('docker redirected the request: the id or reference is not one Docker can name in a path', options);
  }
}

/** What dockerode rejects with: the HTTP status and Docker's JSON body when Docker answered. */
interface DockerodeError extends Error {
  statusCode?: number;
  json?: { message?: string } | null;
}

/** The HTTP status Docker answered with; undefined when Docker did not answer at all. */
export function dockerStatus(err: unknown): number | undefined {
  const code = (err as DockerodeError | undefined)?.statusCode;
  return typeof code === 'number' ? code : undefined;
}

/**
 * Docker's own message (its JSON body), not dockerode's "(HTTP code ...)" wrapping. A
 * streamed call (a pull) leaves the body unparsed, inside dockerode's message: the
 * wrapping is cut off there too, so the user reads what the daemon said.
 */
export function dockerMessage(err: unknown): string {
  const e = err as DockerodeError | undefined;
  const fromBody = e?.json && typeof e.json === 'object' ? e.json.message : undefined;
  return (fromBody ?? e?.message?.replace(/^\(HTTP code \d+\) [^-]*- /, '') ?? String(err)).trim();
}

export const isNotFound = (err: unknown) => dockerStatus(err) === 404;
export const isConflict = (err: unknown) => dockerStatus(err) === 409;
/** 304: Docker had nothing to do (already started / already stopped). */
export const isNotModified = (err: unknown) => dockerStatus(err) === 304;

/**
 * A failed Docker call as the caller's error: a redirect → 3, no answer before the deadline → 4, Docker unreachable → 14, 404 → 5,
 * 409 (conflicts with the container's state) → 9, 400 → 3, anything else → 13;
 * always with Docker's message.
 */
export function toHandlerError(err: unknown): HandlerError {
  if (err instanceof HandlerError) return err;
  if (err instanceof DockerRedirectError) return new HandlerError(ErrorCode.InvalidArgument, err.message, { cause: err });
  if (err instanceof DockerTimeoutError) return new HandlerError(ErrorCode.DeadlineExceeded, err.message, { cause: err });
  const status = dockerStatus(err);
  const message = dockerMessage(err);
  if (status === undefined) return new HandlerError(ErrorCode.Unavailable, `docker: ${message}`, { cause: err });
  const code =
    status === 404 ? ErrorCode.NotFound
    : status === 409 ? ErrorCode.FailedPrecondition
    : status === 400 ? ErrorCode.InvalidArgument
    : ErrorCode.Internal;
  return new HandlerError(code, message, { cause: err });
}

/** A failed start answers 13 with Docker's message (14 when Docker is unreachable). */
export function asStartError(err: unknown, context?: string): HandlerError {
  const mapped = toHandlerError(err);
  if (mapped.code === ErrorCode.Unavailable) return mapped;
  return new HandlerError(ErrorCode.Internal, context ? `${context}: ${mapped.message}` : mapped.message, { cause: err });
}

/** Runs Docker calls; a failure answers the caller with toHandlerError's code and Docker's message. */
export async function dockerCall<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    throw toHandlerError(err);
  }
}

/** Runs a Docker call; a failure answers the caller with code 14 (unavailable) and Docker's message. */
export async function unavailableOnError<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    throw new HandlerError(ErrorCode.Unavailable, `docker: ${(err as Error).message}`, { cause: err });
  }
}
