import type { CoreV1Api, V1ConfigMap, V1Secret } from '@kubernetes/client-node';
import { describeApiError, isNotFound, whileNodeGraphLags } from '@splitlet/kube';
import { ObjectNotFoundError } from './errors';

/**
 * The ConfigMaps and Secrets of the pods on this node, read one by one by name —
 * the only read the Node authorizer grants a node (never a list across
 * namespaces). Throws ObjectNotFoundError when the object does not exist.
 */
export interface ObjectSource {
  configMap(namespace: string, name: string): Promise<V1ConfigMap>;
  secret(namespace: string, name: string): Promise<V1Secret>;
}

/**
 * Gets through the API server, each answer kept for a few seconds (the kubelet's
 * TTL cache strategy) so the pods of one sync, and the env and volumes of one pod,
 * share a read, while a change still shows within the resync that follows.
 */
export class ApiObjectSource implements ObjectSource {
  private readonly cache = new Map<string, { at: number; value: Promise<V1ConfigMap | V1Secret> }>();

  constructor(
    private readonly api: CoreV1Api,
    private readonly ttlMs: number,
    private readonly now: () => number = Date.now,
  ) {}

  configMap(namespace: string, name: string): Promise<V1ConfigMap> {
    return this.cached('configmap', namespace, name, () => this.api.readNamespacedConfigMap({ namespace, name })) as Promise<V1ConfigMap>;
  }

  secret(namespace: string, name: string): Promise<V1Secret> {
    return this.cached('secret', namespace, name, () => this.api.readNamespacedSecret({ namespace, name })) as Promise<V1Secret>;
  }

  private cached(kind: 'configmap' | 'secret', namespace: string, name: string, read: () => Promise<V1ConfigMap | V1Secret>): Promise<V1ConfigMap | V1Secret> {
    const key = `${kind}/${namespace}/${name}`;
    const hit = this.cache.get(key);
    if (hit && this.now() - hit.at < this.ttlMs) return hit.value;
    for (const [k, v] of this.cache) if (this.now() - v.at >= this.ttlMs) this.cache.delete(k);
    // A pod bound a moment ago may not be in the Node authorizer's graph yet: its objects are refused for a moment.
    const value = whileNodeGraphLags(read).catch((err: unknown) => {
      this.cache.delete(key); // a failure is not remembered: the next sync asks again
      if (isNotFound(err)) throw new ObjectNotFoundError(kind, name);
      throw new Error(`failed to get ${kind} ${namespace}/${name}: ${describeApiError(err)}`);
    });
    this.cache.set(key, { at: this.now(), value });
    return value;
  }
}
