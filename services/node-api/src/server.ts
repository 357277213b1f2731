import { STATUS_CODES } from 'node:http';
import { createSecureServer, type Http2SecureServer } from 'node:http2';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { SpanKind, trace } from '@opentelemetry/api';
import { ATTR, podTraceId, withRootSpanInTrace, type Logger } from '@splitlet/telemetry';
import { requestAttributes } from './auth/attributes';
import type { RequestAuthenticator } from './auth/authenticator';
import type { RequestAuthorizer } from './auth/authorizer';
import { plain } from './logs/container-logs';

/** One route's handler: the parsed URL and the path's parameters. */
export type RouteHandler = (req: IncomingMessage, res: ServerResponse, url: URL, params: string[]) => Promise<void>;

/** One route's handler for a connection upgrade (exec, port-forward): the socket is the handler's. */
export type UpgradeHandler = (req: IncomingMessage, socket: Duplex, head: Buffer, url: URL, params: string[]) => Promise<void>;

export interface Route {
  /** The methods served (the kubelet's GET-only routes, or GET and POST for streaming). */
  method: 'GET' | readonly ('GET' | 'POST')[];
  /** Matched against the whole path; its groups become the params. */
  path: RegExp;
  handle: RouteHandler;
  /** A request with `Connection: Upgrade` goes here instead of `handle`. */
  upgrade?: UpgradeHandler;
  /**
   * A route about one pod, its namespace and name the first two params (exec, attach,
   * portForward, containerLogs): its request is a span in that pod's trace, named so.
   */
  podSpan?: string;
}

export interface KubeletServerOptions {
  nodeName: string;
  authenticator: RequestAuthenticator;
  authorizer: RequestAuthorizer;
  routes: Route[];
  /** The UID of a pod of this node by namespace and name (for a pod route's span). */
  podUid?: (namespace: string, name: string) => string | undefined;
  logger: Logger;
}

const tracer = trace.getTracer('node-api');

/**
 * A pod route's work inside a SERVER span in the pod's trace (its id from the pod's
 * UID, as every service's spans about that pod), so the RPCs it makes to
 * runtime-executor join that trace; other routes, and a pod not on this node, run
 * untraced (metrics-server's scrapes would be a trace each 15 s).
 */
function inPodSpan(route: Route, req: IncomingMessage, params: string[], opts: KubeletServerOptions, fn: () => Promise<void>): Promise<void> {
  const [namespace = '', name = ''] = params;
  const uid = route.podSpan ? opts.podUid?.(namespace, name) : undefined;
  if (!route.podSpan || !uid) return fn();
  const attributes = { [ATTR.podUid]: uid, [ATTR.podName]: name, [ATTR.namespace]: namespace, [ATTR.nodeName]: opts.nodeName, 'http.request.method': req.method ?? '', 'http.route': route.podSpan };
  return withRootSpanInTrace(tracer, `node-api ${route.podSpan}`, podTraceId(uid), { kind: SpanKind.SERVER, attributes }, fn);
}

/**
 * The kubelet's HTTPS server with its auth filter (pkg/kubelet/server: InstallAuthFilter):
 * every request authenticated (401 "Unauthorized"), then authorized for its
 * attributes (403 "Forbidden (user=…, verb=…, resource=…, subresource(s)=[…])", 500 when
 * the review fails), then routed (404 "404 page not found").
 */
export function createKubeletServer(tls: { cert: string; key: string; clientCA: string }, opts: KubeletServerOptions): KubeletHttpServer {
  // HTTP/2 with HTTP/1.1 beside it, as the kubelet's Go server: the API server's GETs
  // (logs, stats) go over h2, upgrades (exec, attach, port-forward) over HTTP/1.1. Over
  // HTTP/1.1 a short answer's last bytes and the end of its body come in one read, and
  // the API server's WebSocket log copy drops the bytes of a read that ends the body
  // (wsstream messageCopy): `pods/log` over WebSocket read nothing. Over h2 the end
  // comes in a read of its own. The routes use the compatibility API (req and res as
  // node:http's), which both protocols give.
  const server = createSecureServer(
    { cert: tls.cert, key: tls.key, ca: tls.clientCA, requestCert: true, rejectUnauthorized: false, minVersion: 'TLSv1.2', allowHTTP1: true },
    (request, response) => {
      const req = request as unknown as IncomingMessage;
      const res = response as unknown as ServerResponse;
      handle(req, res, opts).catch((err: unknown) => {
        opts.logger.error({ err, path: pathOf(req) }, 'request failed');
        plain(res, 500, (err as Error).message);
      });
    },
  );
  const sockets = new Set<Socket>();
  server.on('secureConnection', (socket: Socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  });
  // An upgrade (SPDY or a WebSocket, for exec, attach and port-forward) takes the same filter, then its route's upgrade handler.
  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    socket.on('error', () => socket.destroy());
    upgrade(req, socket, head, opts).catch((err: unknown) => {
      opts.logger.error({ err, path: pathOf(req) }, 'upgrade failed');
      rawResponse(socket, 500, (err as Error).message);
    });
  });
  return Object.assign(server, {
    closeAllConnections: () => {
      for (const socket of sockets) socket.destroy();
    },
  });
}

/** node-api's server: h2 and HTTP/1.1 on one TLS port; closeAllConnections ends every connection (upgraded ones too). */
export type KubeletHttpServer = Http2SecureServer & { closeAllConnections(): void };

async function handle(req: IncomingMessage, res: ServerResponse, opts: KubeletServerOptions): Promise<void> {
  const url = new URL(req.url ?? '/', 'https://kubelet');
  const refused = await filter(req, url, opts);
  if (refused) return plain(res, refused.status, refused.body);
  for (const route of opts.routes) {
    const m = route.path.exec(url.pathname);
    if (!m) continue;
    // The kubelet's GETOnlyRestfulFilter.
    const methods = typeof route.method === 'string' ? [route.method] : route.method;
    if (!(methods as readonly string[]).includes(req.method ?? '')) {
      res.setHeader('Allow', methods.join(', '));
      return plain(res, 405, 'Method Not Allowed');
    }
    const params = m.slice(1).map((p) => decodeURIComponent(p));
    return inPodSpan(route, req, params, opts, () => route.handle(req, res, url, params));
  }
  plain(res, 404, '404 page not found');
}

async function upgrade(req: IncomingMessage, socket: Duplex, head: Buffer, opts: KubeletServerOptions): Promise<void> {
  const url = new URL(req.url ?? '/', 'https://kubelet');
  const refused = await filter(req, url, opts);
  if (refused) return rawResponse(socket, refused.status, refused.body);
  for (const route of opts.routes) {
    const m = route.path.exec(url.pathname);
    if (!m) continue;
    const methods = typeof route.method === 'string' ? [route.method] : route.method;
    if (!(methods as readonly string[]).includes(req.method ?? '')) return rawResponse(socket, 405, 'Method Not Allowed', { Allow: methods.join(', ') });
    if (!route.upgrade) return rawResponse(socket, 400, 'this path does not upgrade');
    const params = m.slice(1).map((p) => decodeURIComponent(p));
    const serve = route.upgrade;
    return inPodSpan(route, req, params, opts, () => serve(req, socket, head, url, params));
  }
  rawResponse(socket, 404, '404 page not found');
}

/**
 * The kubelet's InstallAuthFilter: undefined when the request may go on, else the
 * refusal (401, 403, or 500 when a review failed).
 */
async function filter(req: IncomingMessage, url: URL, opts: KubeletServerOptions): Promise<{ status: number; body: string } | undefined> {
  let user;
  try {
    user = await opts.authenticator.authenticate(req);
  } catch (err) {
    opts.logger.error({ err: (err as Error).message }, 'Unable to authenticate the request due to an error');
  }
  if (!user) return { status: 401, body: 'Unauthorized' };
  // As the kubelet's InstallAuthFilter: the first allowed subresource wins; a failed review is 500.
  const attrs = requestAttributes(req.method ?? '', url.pathname, opts.nodeName);
  let allowed = false;
  for (const a of attrs) {
    try {
      allowed = await opts.authorizer.authorize(user, a);
    } catch (err) {
      opts.logger.error({ err: (err as Error).message, user: user.username, subresource: a.subresource }, 'Authorization error');
      return { status: 500, body: `Authorization error (user=${user.username}, verb=${a.verb}, resource=${a.resource}, subresource=${a.subresource})` };
    }
    if (allowed) break;
  }
  if (!allowed) {
    const first = attrs[0]!;
    return { status: 403, body: `Forbidden (user=${user.username}, verb=${first.verb}, resource=${first.resource}, subresource(s)=[${attrs.map((a) => a.subresource).join(' ')}])\n` };
  }
  return undefined;
}

/** An HTTP/1.1 answer written straight to a socket that asked for an upgrade, then closed. */
export function rawResponse(socket: Duplex, status: number, body: string, headers: Record<string, string> = {}): void {
  if (socket.destroyed) return;
  const text = Buffer.from(body);
  const lines = [`HTTP/1.1 ${status} ${STATUS_CODES[status] ?? ''}`, 'Content-Type: text/plain; charset=utf-8', `Content-Length: ${text.length}`, 'Connection: close', ...Object.entries(headers).map(([k, v]) => `${k}: ${v}`)];
  socket.end(Buffer.concat([Buffer.from(`${lines.join('\r\n')}\r\n\r\n`), text]));
}

/** The request's path for a log line: never its query, which holds an exec's command (and whatever secret it names). */
function pathOf(req: IncomingMessage): string {
  try {
    return new URL(req.url ?? '/', 'https://kubelet').pathname;
  } catch {
    return '(not a URL)';
  }
}
