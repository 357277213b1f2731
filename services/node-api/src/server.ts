import { createServer, type Server } from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from '@splitlet/telemetry';
import { requestAttributes } from './auth/attributes';
import type { RequestAuthenticator } from './auth/authenticator';
import type { RequestAuthorizer } from './auth/authorizer';
import { plain } from './logs/container-logs';

/** One route's handler: the parsed URL and the path's parameters. */
export type RouteHandler = (req: IncomingMessage, res: ServerResponse, url: URL, params: string[]) => Promise<void>;

export interface Route {
  method: 'GET';
  /** Matched against the whole path; its groups become the params. */
  path: RegExp;
  handle: RouteHandler;
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
  return server;
}

async function handle(req: IncomingMessage, res: ServerResponse, opts: KubeletServerOptions): Promise<void> {
  const url = new URL(req.url ?? '/', 'https://kubelet');
  let user;
  try {
    user = await opts.authenticator.authenticate(req);
  } catch (err) {
    opts.logger.error({ err: (err as Error).message }, 'Unable to authenticate the request due to an error');
  }
  if (!user) return plain(res, 401, 'Unauthorized');
  // As the kubelet's InstallAuthFilter: the first allowed subresource wins; a failed review is 500.
  const attrs = requestAttributes(req.method ?? '', url.pathname, opts.nodeName);
  let allowed = false;
  for (const a of attrs) {
    try {
      allowed = await opts.authorizer.authorize(user, a);
    } catch (err) {
      opts.logger.error({ err: (err as Error).message, user: user.username, subresource: a.subresource }, 'Authorization error');
      return plain(res, 500, `Authorization error (user=${user.username}, verb=${a.verb}, resource=${a.resource}, subresource=${a.subresource})`);
    }
    if (allowed) break;
  }
  if (!allowed) {
    const first = attrs[0]!;
    return plain(res, 403, `Forbidden (user=${user.username}, verb=${first.verb}, resource=${first.resource}, subresource(s)=[${attrs.map((a) => a.subresource).join(' ')}])\n`);
  }
  for (const route of opts.routes) {
    const m = route.path.exec(url.pathname);
    if (!m) continue;
    // The kubelet's GETOnlyRestfulFilter.
    if (req.method !== route.method) {
      res.setHeader('Allow', route.method);
      return plain(res, 405, 'Method Not Allowed');
    }
    return route.handle(req, res, url, m.slice(1).map((p) => decodeURIComponent(p)));
  }
  plain(res, 404, '404 page not found');
}
