import type { IncomingMessage, ServerResponse } from 'node:http';
import type { V1Pod } from '@kubernetes/client-node';
import type { NatsConnection } from '@nats-io/transport-node';
import { isRemoteError, ErrorCode, type ServiceClient } from '@splitlet/bus';
import { LogStream, type ContainerLogService } from '@splitlet/contracts';
import type { Clock } from '@splitlet/service';
import type { Logger } from '@splitlet/telemetry';
import { ContainerLogStatusError, containerLogId, hasContainerSpec } from './container-log-status';
import { pullContainerLog } from './log-puller';
import { LogQueryError, parseLogQuery, sinceUnixNano } from './log-options';

/** The pods bound to this node, as last seen from the API server. */
export interface PodSource {
  get(namespace: string, name: string): V1Pod | undefined;
  list(): readonly V1Pod[];
}

export interface ContainerLogsDeps {
  pods: PodSource;
  logs: ServiceClient<typeof ContainerLogService>;
  nc: NatsConnection;
  nodeName: string;
  clock: Clock;
  logger: Logger;
}

/**
 * GET /containerLogs/{namespace}/{pod}/{container}: pkg/kubelet/server's
 * getContainerLogs and the kubelet's GetContainerLogs, with their statuses and words.
 */
export async function serveContainerLogs(deps: ContainerLogsDeps, req: IncomingMessage, res: ServerResponse, url: URL, [namespace, podName, container]: string[]): Promise<void> {
  let opts;
  try {
    opts = parseLogQuery(url.searchParams);
  } catch (err) {
    if (err instanceof LogQueryError) return plain(res, err.status, err.message);
    throw err;
  }
  const pod = deps.pods.get(namespace!, podName!);
  if (!pod) return plain(res, 404, `pod "${podName}" does not exist`);
  if (!hasContainerSpec(pod, container!)) return plain(res, 404, `container "${container}" not found in pod "${podName}"`);
  let target;
  try {
    target = containerLogId(pod, container!, opts.previous);
  } catch (err) {
    if (err instanceof ContainerLogStatusError) {
      // With the pod's version as seen here: a refusal from a copy older than the API's says so.
      deps.logger.info({ pod: `${namespace}/${podName}`, container, resourceVersion: pod.metadata?.resourceVersion, err: err.message }, 'container log refused');
      return plain(res, 400, err.message);
    }
    throw err;
  }
  const options = {
    follow: opts.follow,
    timestamps: opts.timestamps,
    sinceUnixNano: sinceUnixNano(opts, deps.clock.now()),
    limitBytes: BigInt(opts.limitBytes ?? 0),
    stream: opts.stream === 'Stdout' ? LogStream.STDOUT : opts.stream === 'Stderr' ? LogStream.STDERR : LogStream.ALL_UNSPECIFIED,
    ...(opts.tailLines !== undefined ? { tailLines: BigInt(opts.tailLines) } : {}),
  };
  let streamId: string;
  try {
    ({ streamId } = await deps.logs.openContainerLog({ containerId: target.id, options }, { attributes: { 'k8s.pod.name': podName, 'k8s.namespace.name': namespace, 'k8s.container.name': container, 'container.id': target.id } }));
  } catch (err) {
    // kuberuntime's GetContainerLogs when ContainerStatus fails (e.g. the container GC removed it).
    if (isRemoteError(err) && err.code === ErrorCode.NotFound) return plain(res, 400, `unable to retrieve container logs for ${target.uri}`);
    throw err;
  }
  // The response's 'close' is the client going away (or the end); the request's fires
  // as soon as its (empty) body is read, so it says nothing about the client.
  const gone = new AbortController();
  res.on('close', () => gone.abort());
  // (Chunked over HTTP/1.1 by itself; h2 has no Transfer-Encoding.)
  res.writeHead(200, { 'Content-Type': 'text/plain; charset=utf-8' });
  res.flushHeaders();
  try {
    await pullContainerLog(deps.nc, deps.nodeName, streamId, res, gone.signal);
  } catch (err) {
    // The headers are out: the kubelet too can only end the body here.
    deps.logger.warn({ err: (err as Error).message, pod: `${namespace}/${podName}`, container }, 'container log stream ended early');
  }
  res.end();
}

/** A plain-text error as go-restful's WriteError writes it. */
export function plain(res: ServerResponse, status: number, message: string): void {
  if (res.headersSent) return void res.end();
  res.writeHead(status, { 'Content-Type': 'text/plain; charset=utf-8' });
  res.end(message);
}
