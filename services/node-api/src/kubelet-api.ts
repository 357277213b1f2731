import type { NatsConnection } from '@nats-io/transport-node';
import type { ServiceClient } from '@splitlet/bus';
import type { ContainerLogService, ExecStreamService, RuntimeService } from '@splitlet/contracts';
import { untilAborted, type Clock, type Runnable } from '@splitlet/service';
import type { Logger } from '@splitlet/telemetry';
import type { RequestAuthenticator } from './auth/authenticator';
import type { RequestAuthorizer } from './auth/authorizer';
import { serveAttach, serveAttachWithoutUpgrade, serveExec, serveExecWithoutUpgrade } from './exec/exec';
import { servePortForward, servePortForwardWithoutUpgrade } from './portforward/port-forward';
import { serveContainerLogs, type PodSource } from './logs/container-logs';
import { OwnMetrics, serveKubeletMetrics, serveProbeMetrics, type MetricsGatherer } from './metrics/metrics';
import { serveHealthz, servePods } from './pods';
import { CpuRates, serveResourceMetrics, serveStatsSummary } from './stats/stats';
import { createKubeletServer, type KubeletHttpServer, type Route } from './server';
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
  /** runtime-executor's RuntimeService, for ListContainerStats only. */
  runtime: ServiceClient<typeof RuntimeService>;
  /** pod-sync's and the prober's figures, from every replica (/metrics, /metrics/probes). */
  metrics: MetricsGatherer;
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
    const statsDeps = { nodeName: o.nodeName, pods: o.pods, runtime: o.runtime, logger: o.logger };
    const rates = new CpuRates();
    const metricsDeps = { nodeName: o.nodeName, gatherer: o.metrics, logger: o.logger };
    const own = new OwnMetrics(o.nodeName);
    const routes: Route[] = [
      { method: 'GET', path: /^\/healthz$/, handle: async (_req, res) => serveHealthz(res) },
      { method: 'GET', path: /^\/pods\/?$/, handle: async (_req, res) => servePods(o.pods, res) },
      { method: 'GET', path: /^\/metrics\/?$/, handle: (_req, res) => serveKubeletMetrics(metricsDeps, own, res) },
      { method: 'GET', path: /^\/metrics\/probes\/?$/, handle: (_req, res) => serveProbeMetrics(metricsDeps, own, res) },
      { method: 'GET', path: /^\/metrics\/resource\/?$/, handle: (_req, res) => serveResourceMetrics(statsDeps, res) },
      { method: 'GET', path: /^\/stats\/summary\/?$/, handle: (_req, res) => serveStatsSummary(statsDeps, rates, res) },
      { method: 'GET', path: /^\/containerLogs\/([^/]+)\/([^/]+)\/([^/]+)$/, handle: (req, res, url, params) => serveContainerLogs(deps, req, res, url, params), podSpan: 'containerLogs' },
      ...[/^\/exec\/([^/]+)\/([^/]+)\/([^/]+)$/, /^\/exec\/([^/]+)\/([^/]+)\/([^/]+)\/([^/]+)$/].map(
        (path): Route => ({
          method: ['GET', 'POST'],
          path,
          handle: (req, res, url, params) => serveExecWithoutUpgrade(execDeps, req, res, url, params),
          upgrade: (req, socket, head, url, params) => serveExec(execDeps, req, socket, head, url, params),
          podSpan: 'exec',
        }),
      ),
      ...[/^\/attach\/([^/]+)\/([^/]+)\/([^/]+)$/, /^\/attach\/([^/]+)\/([^/]+)\/([^/]+)\/([^/]+)$/].map(
        (path): Route => ({
          method: ['GET', 'POST'],
          path,
          handle: (req, res, url, params) => serveAttachWithoutUpgrade(execDeps, req, res, url, params),
          upgrade: (req, socket, head, url, params) => serveAttach(execDeps, req, socket, head, url, params),
          podSpan: 'attach',
        }),
      ),
      ...[/^\/portForward\/([^/]+)\/([^/]+)$/, /^\/portForward\/([^/]+)\/([^/]+)\/([^/]+)$/].map(
        (path): Route => ({
          method: ['GET', 'POST'],
          path,
          handle: (req, res, url, params) => servePortForwardWithoutUpgrade(execDeps, req, res, url, params),
          upgrade: (req, socket, head, url, params) => servePortForward(execDeps, req, socket, head, url, params),
          podSpan: 'portForward',
        }),
      ),
    ];
    const server = createKubeletServer({ cert: cert.cert, key: cert.key, clientCA: o.clientCA }, { nodeName: o.nodeName, authenticator: o.authenticator, authorizer: o.authorizer, routes, podUid: (ns, name) => o.pods.get(ns, name)?.metadata?.uid, logger: o.logger });
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

function listen(server: KubeletHttpServer, port: number, host: string): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
}
