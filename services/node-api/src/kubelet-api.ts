import type { Server } from 'node:https';
import type { NatsConnection } from '@nats-io/transport-node';
import type { ServiceClient } from '@splitlet/bus';
import type { ContainerLogService, ExecStreamService } from '@splitlet/contracts';
import { untilAborted, type Clock, type Runnable } from '@splitlet/service';
import type { Logger } from '@splitlet/telemetry';
import type { RequestAuthenticator } from './auth/authenticator';
import type { RequestAuthorizer } from './auth/authorizer';
import { serveExec, serveExecWithoutUpgrade } from './exec/exec';
import { servePortForward, servePortForwardWithoutUpgrade } from './portforward/port-forward';
import { serveContainerLogs, type PodSource } from './logs/container-logs';
import { serveHealthz, servePods } from './pods';
import { createKubeletServer, type Route } from './server';
import { keepRenewed } from './tls/rotation';
import type { ServingCert } from './tls/serving-cert';

export interface KubeletApiOptions {
  nodeName: string;
  port: number;
  address: string;
  clientCA: string;
  /** Gets a serving certificate (waits for it); called again to renew it. */
  servingCert: (signal: AbortSignal) => Promise<ServingCert>;
  authenticator: RequestAuthenticator;
  authorizer: RequestAuthorizer;
  pods: PodSource;
  logs: ServiceClient<typeof ContainerLogService>;
  exec: ServiceClient<typeof ExecStreamService>;
  nc: NatsConnection;
  clock: Clock;
  logger: Logger;
}

/**
 * The kubelet API on the kubelet port: gets its serving certificate, listens, swaps
 * in a renewed certificate at 70–90 % of the current one's life, and on stop closes
 * every connection (open log streams end; the executor frees them at once).
 */
export class KubeletApi implements Runnable {
  constructor(private readonly opts: KubeletApiOptions) {}

  async run(signal: AbortSignal): Promise<void> {
    const o = this.opts;
    const cert = await o.servingCert(signal);
    const deps = { pods: o.pods, logs: o.logs, nc: o.nc, nodeName: o.nodeName, clock: o.clock, logger: o.logger };
    const execDeps = { pods: o.pods, exec: o.exec, nc: o.nc, nodeName: o.nodeName, logger: o.logger };
    const routes: Route[] = [
      { method: 'GET', path: /^\/healthz$/, handle: async (_req, res) => serveHealthz(res) },
      { method: 'GET', path: /^\/pods\/?$/, handle: async (_req, res) => servePods(o.pods, res) },
      { method: 'GET', path: /^\/containerLogs\/([^/]+)\/([^/]+)\/([^/]+)$/, handle: (req, res, url, params) => serveContainerLogs(deps, req, res, url, params) },
      ...[/^\/exec\/([^/]+)\/([^/]+)\/([^/]+)$/, /^\/exec\/([^/]+)\/([^/]+)\/([^/]+)\/([^/]+)$/].map(
        (path): Route => ({
          method: ['GET', 'POST'],
          path,
          handle: (req, res, url, params) => serveExecWithoutUpgrade(execDeps, req, res, url, params),
          upgrade: (req, socket, head, url, params) => serveExec(execDeps, req, socket, head, url, params),
        }),
      ),
      ...[/^\/portForward\/([^/]+)\/([^/]+)$/, /^\/portForward\/([^/]+)\/([^/]+)\/([^/]+)$/].map(
        (path): Route => ({
          method: ['GET', 'POST'],
          path,
          handle: (req, res, url, params) => servePortForwardWithoutUpgrade(execDeps, req, res, url, params),
          upgrade: (req, socket, head, url, params) => servePortForward(execDeps, req, socket, head, url, params),
        }),
      ),
    ];
    const server = createKubeletServer({ cert: cert.cert, key: cert.key, clientCA: o.clientCA }, { nodeName: o.nodeName, authenticator: o.authenticator, authorizer: o.authorizer, routes, logger: o.logger });
    await listen(server, o.port, o.address);
    o.logger.info({ port: o.port, address: o.address }, 'listening');
    const renewing = keepRenewed(
      { current: cert, obtain: o.servingCert, apply: (c) => server.setSecureContext({ cert: c.cert, key: c.key, ca: o.clientCA }), clock: o.clock, random: Math.random, logger: o.logger },
      signal,
    ).catch((err: unknown) => o.logger.error({ err }, 'serving certificate rotation stopped'));
    await untilAborted(signal);
    server.close();
    server.closeAllConnections();
    await renewing;
  }
}

function listen(server: Server, port: number, host: string): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
}
