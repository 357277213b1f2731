import type { Server } from 'node:https';
import type { NatsConnection } from '@nats-io/transport-node';
import type { ServiceClient } from '@splitlet/bus';
import type { ContainerLogService } from '@splitlet/contracts';
import { untilAborted, type Clock, type Runnable } from '@splitlet/service';
import type { Logger } from '@splitlet/telemetry';
import type { RequestAuthenticator } from './auth/authenticator';
import type { RequestAuthorizer } from './auth/authorizer';
import { serveContainerLogs, type PodSource } from './logs/container-logs';
import { serveHealthz, servePods } from './pods';
import { createKubeletServer, type Route } from './server';
import { renewalAt, type ServingCert } from './tls/serving-cert';

const RENEW_RETRY_MS = 30_000;

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
    let cert = await o.servingCert(signal);
    const deps = { pods: o.pods, logs: o.logs, nc: o.nc, nodeName: o.nodeName, clock: o.clock, logger: o.logger };
    const routes: Route[] = [
      { method: 'GET', path: /^\/healthz$/, handle: async (_req, res) => serveHealthz(res) },
      { method: 'GET', path: /^\/pods\/?$/, handle: async (_req, res) => servePods(o.pods, res) },
      { method: 'GET', path: /^\/containerLogs\/([^/]+)\/([^/]+)\/([^/]+)$/, handle: (req, res, url, params) => serveContainerLogs(deps, req, res, url, params) },
    ];
    const server = createKubeletServer({ cert: cert.cert, key: cert.key, clientCA: o.clientCA }, { nodeName: o.nodeName, authenticator: o.authenticator, authorizer: o.authorizer, routes, logger: o.logger });
    await listen(server, o.port, o.address);
    o.logger.info({ port: o.port, address: o.address }, 'listening');
    const renewing = (async () => {
      while (!signal.aborted && Number.isFinite(cert.notAfter)) {
        await o.clock.sleep(Math.max(0, renewalAt(cert, Math.random) - o.clock.now()), signal);
        try {
          cert = await o.servingCert(signal);
        } catch (err) {
          if (signal.aborted) return;
          // The current certificate still serves; the kubelet's manager too retries with back-off.
          o.logger.error({ err: (err as Error).message }, 'serving certificate renewal failed; retrying in 30 s');
          await o.clock.sleep(RENEW_RETRY_MS, signal);
          continue;
        }
        server.setSecureContext({ cert: cert.cert, key: cert.key, ca: o.clientCA });
        o.logger.info({ notAfter: new Date(cert.notAfter).toISOString() }, 'serving certificate renewed');
      }
    })().catch(() => undefined); // only the abort of a sleep ends it
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
