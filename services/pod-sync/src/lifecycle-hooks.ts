import http from 'node:http';
import https from 'node:https';
import type { V1Container, V1LifecycleHandler, V1Pod } from '@kubernetes/client-node';
import { timerMs, type ServiceClient } from '@splitlet/bus';
import type { RuntimeService } from '@splitlet/contracts';

type Runtime = ServiceClient<typeof RuntimeService>;

/** format.Pod: name_namespace(uid), as the kubelet names a pod in messages. */
export const formatPod = (pod: V1Pod): string => `${pod.metadata?.name}_${pod.metadata?.namespace}(${pod.metadata?.uid})`;

/** Where a hook reaches the container: the pod's IP and the node's. */
export interface HookTarget {
  containerId: string;
  podIP: string;
}

/**
 * Runs postStart and preStop handlers as the kubelet's HandlerRunner
 * (pkg/kubelet/lifecycle/handlers.go): exec in the container through the runtime,
 * an HTTP GET (any response counts as done; only a failed request fails), or a sleep.
 * Resolves to undefined when the hook succeeded, else to the kubelet's failure message.
 */
export async function runHook(
  runtime: Runtime,
  pod: V1Pod,
  c: V1Container,
  handler: V1LifecycleHandler,
  target: HookTarget,
  timeoutSeconds: number,
): Promise<string | undefined> {
  if (handler.exec) {
    const cmd = handler.exec.command ?? [];
    try {
      const r = await runtime.execSync({ containerId: target.containerId, cmd, timeout: BigInt(timeoutSeconds) }, { timeoutMs: (timeoutSeconds + 10) * 1000 });
      if (r.exitCode === 0) return undefined;
      const stderr = new TextDecoder().decode(r.stderr);
      const output = new TextDecoder().decode(r.stdout) + stderr;
      const err = `command '${cmd.join(' ')}' exited with ${r.exitCode}: ${stderr}`;
      return `Exec lifecycle hook ([${cmd.join(' ')}]) for Container "${c.name}" in Pod "${formatPod(pod)}" failed - error: ${err}, message: ${JSON.stringify(output)}`;
    } catch (e) {
      const err = e as Error & { description?: string };
      return `Exec lifecycle hook ([${cmd.join(' ')}]) for Container "${c.name}" in Pod "${formatPod(pod)}" failed - error: ${err.description ?? err.message}, message: ""`;
    }
  }
  if (handler.httpGet) {
    const g = handler.httpGet;
    const port = resolvePort(c, g.port as unknown as number | string);
    const host = g.host || target.podIP;
    const path = g.path ?? '';
    try {
      if (port === undefined) throw new Error(`couldn't find port: ${String(g.port)} in ${c.name}`);
      await httpGet((g.scheme ?? 'HTTP').toUpperCase() === 'HTTPS', host, port, path.startsWith('/') ? path : `/${path}`, g.httpHeaders ?? [], timeoutSeconds);
      return undefined;
    } catch (e) {
      return `HTTP lifecycle hook (${path}) for Container "${c.name}" in Pod "${formatPod(pod)}" failed - error: ${(e as Error).message}`;
    }
  }
  if (handler.sleep) {
    await new Promise((r) => setTimeout(r, timerMs(Math.min(handler.sleep!.seconds, timeoutSeconds) * 1000)));
    return undefined;
  }
  return `Invalid handler: ${JSON.stringify(handler)}`;
}

/** A port by number, or by name among the container's ports (the kubelet's resolvePort). */
export function resolvePort(c: V1Container, port: number | string | undefined): number | undefined {
  if (typeof port === 'number') return port;
  if (port === undefined || port === '') return undefined;
  if (/^\d+$/.test(port)) return Number(port);
  return c.ports?.find((p) => p.name === port)?.containerPort;
}

function httpGet(tls: boolean, host: string, port: number, path: string, headers: { name: string; value: string }[], timeoutSeconds: number): Promise<void> {
  const h: Record<string, string> = { 'User-Agent': 'kube-lifecycle/1.36' };
  for (const x of headers) h[x.name] = x.value;
  return new Promise((resolve, reject) => {
    const req = (tls ? https : http).get({ host, port, path, headers: h, timeout: timeoutSeconds * 1000, ...(tls ? { rejectUnauthorized: false } : {}) }, (res) => {
      res.resume();
      res.on('end', () => resolve());
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`Get "${tls ? 'https' : 'http'}://${host}:${port}${path}": context deadline exceeded`)));
    req.on('error', reject);
  });
}
