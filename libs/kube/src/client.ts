import { statSync } from 'node:fs';
import { KubeConfig, type RequestContext } from '@kubernetes/client-node';
import { ConfigError } from '@splitlet/config';

type Dispatcher = NonNullable<ReturnType<RequestContext['getDispatcher']>>;

/**
 * A KubeConfig whose requests share one connection pool. client-node 2.0.1 builds a
 * new undici Agent — a pool of its own — for every request (applySecurityAuthentication
 * → createDispatcher), so no connection is ever reused and every API call pays a TLS
 * handshake at both ends: with 100 pods starting at 5/s that was the largest share of
 * status-reporter's CPU and a good part of the API server's (bench, 2026-12-05). The
 * first pool made for a TLS identity (server, CA, client certificate and key — a file's
 * modification time included, so a rotated certificate gets a new pool) serves every
 * later request; the fresh pool each request brings is closed unused.
 */
export class PooledKubeConfig extends KubeConfig {
  private pool: { identity: string; dispatcher: Dispatcher } | undefined;

  override async applySecurityAuthentication(context: RequestContext): Promise<void> {
    await super.applySecurityAuthentication(context);
    const fresh = context.getDispatcher();
    if (!fresh) return;
    const identity = this.tlsIdentity();
    if (this.pool?.identity === identity) {
      void fresh.close().catch(() => undefined);
    } else {
      const old = this.pool?.dispatcher;
      this.pool = { identity, dispatcher: fresh };
      // Requests in flight on the old pool finish; it takes no new ones.
      void old?.close().catch(() => undefined);
    }
    context.setDispatcher(this.pool.dispatcher);
  }

  private tlsIdentity(): string {
    const cluster = this.getCurrentCluster();
    const user = this.getCurrentUser();
    const file = (path: string | undefined) => {
      if (!path) return '';
      try {
        return `${path}@${statSync(path).mtimeMs}`;
      } catch {
        return path;
      }
    };
    return JSON.stringify([
      cluster?.server,
      cluster?.caData,
      file(cluster?.caFile),
      cluster?.skipTLSVerify,
      cluster?.tlsServerName,
      user?.name,
      user?.certData,
      file(user?.certFile),
      user?.keyData,
      file(user?.keyFile),
    ]);
  }
}

/**
 * Loads a kubeconfig: the given path, else $KUBECONFIG, else the in-cluster
 * service account, else ~/.kube/config (client-node's default order). One that
 * cannot be read or names no cluster is a ConfigError (the service exits 78).
 */
export function loadKubeConfig(path?: string): KubeConfig {
  const kc = new PooledKubeConfig();
  try {
    if (path) kc.loadFromFile(path);
    else kc.loadFromDefault();
  } catch (err) {
    throw new ConfigError([`KUBECONFIG: cannot load ${path ?? 'the default kubeconfig'}: ${(err as Error).message}`]);
  }
  if (!kc.getCurrentCluster()) throw new ConfigError([`KUBECONFIG: ${path ?? 'the default kubeconfig'} names no current cluster`]);
  return kc;
}
