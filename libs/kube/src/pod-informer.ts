import {
  ADD,
  CoreV1Api,
  DELETE,
  ERROR,
  ListWatch,
  UPDATE,
  Watch,
  type KubeConfig,
  type KubernetesListObject,
  type KubernetesObject,
  type V1Node,
  type V1Pod,
} from '@kubernetes/client-node';
import type { Logger } from 'pino';

export interface PodInformerHandlers {
  /** A pod bound to the node was added or changed (also called for each pod on a re-list). */
  onUpsert(pod: V1Pod): void;
  /** A pod bound to the node is gone from the API server. */
  onDelete(pod: V1Pod): void;
}

export interface InformerBackoff {
  /**
   * Back-off after a list or watch error: first delay, doubling up to max, back to the
   * first once no error came for resetAfterMs (client-go's reflector: 800 ms .. 30 s,
   * reset after 2 min).
   */
  backoff?: { initialMs: number; maxMs: number; resetAfterMs?: number };
}

export interface PodInformerOptions extends InformerBackoff {
  kubeConfig: KubeConfig;
  nodeName: string;
  logger: Logger;
}

interface KubeInformerSpec<T extends KubernetesObject> extends InformerBackoff {
  kubeConfig: KubeConfig;
  logger: Logger;
  /** What is watched, for the log ("pod", "node"). */
  what: string;
  path: string;
  /** Only the objects it selects; unset: all of them. */
  fieldSelector?: string;
  list: () => Promise<KubernetesListObject<T>>;
  onUpsert?: (o: T) => void;
  onDelete?: (o: T) => void;
}

/**
 * A cache of some objects kept by a list+watch (field selector), as client-go's
 * informer. client-node's informer stays stopped after an error, so this one
 * restarts it with back-off until stopped. The delay resets when a list succeeds, or
 * when the last error is older than `resetAfterMs`: a restart from the last
 * resourceVersion lists nothing, so without it one long outage would leave every
 * later blip waiting the longest delay.
 */
export class KubeInformer<T extends KubernetesObject> {
  private readonly lw: ListWatch<T>;
  private readonly backoff: { initialMs: number; maxMs: number; resetAfterMs?: number };
  private stopped = false;
  private delayMs: number;
  private lastErrorAt = -Infinity;
  private timer: NodeJS.Timeout | undefined;
  private markSynced!: () => void;
  private listed = false;
  /** Resolves once a list has filled the cache. */
  readonly synced = new Promise<void>((resolve) => (this.markSynced = resolve));

  constructor(private readonly spec: KubeInformerSpec<T>) {
    this.backoff = spec.backoff ?? { initialMs: 800, maxMs: 30_000 };
    this.delayMs = this.backoff.initialMs;
    this.lw = new ListWatch<T>(
      spec.path,
      new Watch(spec.kubeConfig),
      async () => {
        const list = await spec.list();
        this.delayMs = this.backoff.initialMs;
        this.listed = true;
        this.markSynced();
        return list;
      },
      false,
      undefined,
      spec.fieldSelector,
    );
    if (spec.onUpsert) {
      this.lw.on(ADD, spec.onUpsert);
      this.lw.on(UPDATE, spec.onUpsert);
    }
    if (spec.onDelete) this.lw.on(DELETE, spec.onDelete);
    this.lw.on(ERROR, (err: unknown) => this.restartLater(err));
  }

  /**
   * Lists and starts watching; resolves once the cache holds the first list. A
   * failing list or watch is retried with back-off meanwhile (and logged).
   */
  async start(): Promise<void> {
    await this.lw.start().catch((err: unknown) => this.restartLater(err));
    await this.synced;
  }

  /** Whether a list has filled the cache at least once (client-go's HasSynced). */
  get hasSynced(): boolean {
    return this.listed;
  }

  /** The cached objects. The returned objects are shared: do not mutate them. */
  list(): readonly T[] {
    return this.lw.list();
  }

  /** One cached object by name (and namespace, for a namespaced kind). */
  protected cached(name: string, namespace?: string): T | undefined {
    return this.lw.get(name, namespace);
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
    void this.lw.stop();
  }

  private restartLater(err: unknown): void {
    if (this.stopped || this.timer) return;
    const now = Date.now();
    if (now - this.lastErrorAt > (this.backoff.resetAfterMs ?? 120_000)) this.delayMs = this.backoff.initialMs;
    this.lastErrorAt = now;
    const delay = this.delayMs;
    this.delayMs = Math.min(this.delayMs * 2, this.backoff.maxMs);
    this.spec.logger.warn({ err: (err as Error)?.message ?? err, retryInMs: delay }, `${this.spec.what} watch failed; restarting`);
    this.timer = setTimeout(() => {
      this.timer = undefined;
      if (!this.stopped) void this.lw.start().catch((e: unknown) => this.restartLater(e));
    }, delay);
  }
}

/** The pods bound to one node (field selector spec.nodeName=<node>). */
export class PodInformer extends KubeInformer<V1Pod> {
  constructor(opts: PodInformerOptions, handlers: PodInformerHandlers) {
    const api = opts.kubeConfig.makeApiClient(CoreV1Api);
    const fieldSelector = `spec.nodeName=${opts.nodeName}`;
    super({ ...opts, what: 'pod', path: '/api/v1/pods', fieldSelector, list: () => api.listPodForAllNamespaces({ fieldSelector }), ...handlers });
  }

  get(namespace: string, name: string): V1Pod | undefined {
    return this.cached(name, namespace);
  }
}

/**
 * The node's own Node object (a node may list and watch only that one, by
 * metadata.name): what the API server holds now, as the kubelet's node lister.
 */
export class OwnNodeInformer extends KubeInformer<V1Node> {
  constructor(opts: { kubeConfig: KubeConfig; nodeName: string; logger: Logger } & InformerBackoff) {
    const api = opts.kubeConfig.makeApiClient(CoreV1Api);
    const fieldSelector = `metadata.name=${opts.nodeName}`;
    super({ ...opts, what: 'node', path: '/api/v1/nodes', fieldSelector, list: () => api.listNode({ fieldSelector }) });
  }

  get(name: string): V1Node | undefined {
    return this.cached(name);
  }
}
