import type { ServerResponse } from 'node:http';
import type { PodSource } from './logs/container-logs';

/** GET /pods: the pods this node runs, as the kubelet's encodePods writes them (a v1 PodList). */
export function servePods(pods: PodSource, res: ServerResponse): void {
  const body = JSON.stringify({ kind: 'PodList', apiVersion: 'v1', metadata: {}, items: pods.list() }, metav1Time);
  res.writeHead(200, { 'Content-Type': 'application/json' });
  res.end(`${body}\n`);
}

/** GET /healthz: the kubelet's healthz answers "ok" while its checks pass. */
export function serveHealthz(res: ServerResponse): void {
  res.writeHead(200, { 'Content-Type': 'text/plain; charset=utf-8', 'X-Content-Type-Options': 'nosniff' });
  res.end('ok');
}

// client-node turns times into Dates; metav1.Time is RFC3339 in whole seconds.
function metav1Time(this: Record<string, unknown>, key: string, value: unknown): unknown {
  const raw = this[key];
  return raw instanceof Date ? raw.toISOString().replace(/\.\d{3}Z$/, 'Z') : value;
}
