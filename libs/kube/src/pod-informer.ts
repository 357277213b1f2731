import {
  ADD,
  CoreV1Api,
  DELETE,
  ERROR,
  ListWatch,
  UPDATE,
  Watch,
  type KubeConfig,
  type V1Pod,
} from '@kubernetes/client-node';
import type { Logger } from 'pino';

export interface PodInformerHandlers {
  /** A pod bound to the node was added or changed (also called for each pod on a re-list). */
  onUpsert(pod: V1Pod): void;
  /** A pod bound to the node is gone from the API server. */
  onDelete(pod: V1Pod): void;
}

export interface PodInformerOptions {
  kubeConfig: KubeConfig;
  nodeName: string;
  logger: Logger;
  /**
   * Back-off after a list or watch error: first delay, doubling up to max, back to the
   * first once no error came for resetAfterMs (client-go's reflector: 800 ms .. 30 s,
   * reset after 2 min).
   */
  backoff?: { initialMs: number; maxMs: number; resetAfterMs?: number };
}

/**
 * The pods bound to one node (field selector spec.nodeName=<node>), as a cache kept
 * by a list+watch. client-node's informer stays stopped after an error, so this one
 * restarts it with back-off until stopped. The delay resets when a list succeeds, or
 * when the last error is older than `resetAfterMs`: a restart from the last
 * resourceVersion lists nothing, so without it one long outage would leave every
 * later blip waiting the longest delay.
 */
export class PodInformer {
  private readonly lw: ListWatch<V1Pod>;
  private readonly opts: Required<PodInformerOptions>;
  private stopped = false;
  private delayMs: number;
  private lastErrorAt = -Infinity;
  private timer: NodeJS.Timeout | undefined;
  private markSynced!: () => void;
  /** Resolves once a list has filled the cache. */
  readonly synced = new Promise<void>((resolve) => (this.markSynced = resolve));

  constructor(opts: PodInformerOptions, handlers: PodInformerHandlers) {
    this.opts = { backoff: { initialMs: 800, maxMs: 30_000 }, ...opts };
    this.delayMs = this.opts.backoff.initialMs;
    const api = opts.kubeConfig.makeApiClient(CoreV1Api);
    const fieldSelector = `spec.nodeName=${opts.nodeName}`;
    this.lw = new ListWatch<V1Pod>(
      '/api/v1/pods',
      new Watch(opts.kubeConfig),
      async () => {
        const list = await api.listPodForAllNamespaces({ fieldSelector });
        this.delayMs = this.opts.backoff.initialMs;
        this.markSynced();
        return list;
      },
      false,
      undefined,
      fieldSelector,
    );
    this.lw.on(ADD, handlers.onUpsert);
    this.lw.on(UPDATE, handlers.onUpsert);
    this.lw.on(DELETE, handlers.onDelete);
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

  /** The cached pods. The returned objects are shared: do not mutate them. */
  list(): readonly V1Pod[] {
    return this.lw.list();
  }

  get(namespace: string, name: string): V1Pod | undefined {
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
    if (now - this.lastErrorAt > (this.opts.backoff.resetAfterMs ?? 120_000)) this.delayMs = this.opts.backoff.initialMs;
    this.lastErrorAt = now;
    const delay = this.delayMs;
    this.delayMs = Math.min(this.delayMs * 2, this.opts.backoff.maxMs);
    this.opts.logger.warn({ err: (err as Error)?.message ?? err, retryInMs: delay }, 'pod watch failed; restarting');
    this.timer = setTimeout(() => {
      this.timer = undefined;
      if (!this.stopped) void this.lw.start().catch((e: unknown) => this.restartLater(e));
    }, delay);
  }
}
