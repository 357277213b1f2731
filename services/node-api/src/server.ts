import { STATUS_CODES } from 'node:http';
import { createServer, type Server } from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import type { Logger } from '@splitlet/telemetry';
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
}

export interface KubeletServerOptions {
  nodeName: string;
  authenticator: RequestAuthenticator;
  authorizer: RequestAuthorizer;
  routes: Route[];
  logger: Logger;
}

/**
 * The kubelet's HTTPS server with its auth filter (pkg/kubelet/server: InstallAuthFilter):
 * every request authenticated (401 "Unauthorized"), then authorized for its
 * attributes (403 "Forbidden (user=…, verb=…, resource=…, subresource(s)=[…])", 500 when
 * the review fails), then routed (404 "404 page not found").
 */
export function createKubeletServer(tls: { cert: string; key: string; clientCA: string }, opts: KubeletServerOptions): Server {
  const server = createServer(
    { cert: tls.cert, key: tls.key, ca: tls.clientCA, requestCert: true, rejectUnauthorized: false, minVersion: 'TLSv1.2' },
    (req, res) => {
      handle(req, res, opts).catch((err: unknown) => {
        opts.logger.error({ err, path: req.url }, 'request failed');
        plain(res, 500, (err as Error).message);
      });
    },
  );
  // An upgrade (SPDY for exec and port-forward) takes the same filter, then its route's upgrade handler.
  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    socket.on('error', () => socket.destroy());
    upgrade(req, socket, head, opts).catch((err: unknown) => {
      opts.logger.error({ err, path: req.url }, 'upgrade failed');
      rawResponse(socket, 500, (err as Error).message);
    });
  });
  return server;
}

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
    return route.handle(req, res, url, m.slice(1).map((p) => decodeURIComponent(p)));
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
    return route.upgrade(req, socket, head, url, m.slice(1).map((p) => decodeURIComponent(p)));
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
