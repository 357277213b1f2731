import { CoordinationV1Api, CoreV1Api, KubeConfig, Watch, type V1Pod } from '@kubernetes/client-node';

/** The harness's view of the cluster: the admin kubeconfig and its clients. */
export interface Cluster {
  kc: KubeConfig;
  core: CoreV1Api;
  /** Leases (the Node's heartbeat). */
  coordination: CoordinationV1Api;
  /** The kubeconfig file itself, for kubectl. */
  kubeconfig: string;
}

export function connectCluster(kubeconfigPath: string): Cluster {
  const kc = new KubeConfig();
  kc.loadFromFile(kubeconfigPath);
  return { kc, core: kc.makeApiClient(CoreV1Api), coordination: kc.makeApiClient(CoordinationV1Api), kubeconfig: kubeconfigPath };
}

export const TESTBOX = 'splitlet-lab/testbox:1';
/** A container that runs until SIGTERM and then exits at once (sleep as PID 1 would ignore it). */
export const UNTIL_SIGTERM = 'trap "exit 0" TERM; sleep 3600 & wait';

export interface PodOptions {
  restartPolicy?: 'Always' | 'Never';
  env?: Record<string, string>;
  readinessProbeCommand?: string[];
  labels?: Record<string, string>;
}

/** One container of the local test image, bound to the node by spec.nodeName (no scheduler in the path). */
export function benchPod(name: string, nodeName: string, script: string, opts: PodOptions = {}): V1Pod {
  return {
    metadata: { name, labels: { 'splitlet.bench': 'true', ...opts.labels } },
    spec: {
      nodeName,
      // The reference node's taint (issue 18): its pods are the ones a test puts there. Nothing on a splitlet node.
      tolerations: [{ key: 'splitlet.dev/reference', operator: 'Exists', effect: 'NoSchedule' }],
      restartPolicy: opts.restartPolicy ?? 'Always',
      terminationGracePeriodSeconds: 30,
      containers: [
        {
          name: 'app',
          image: TESTBOX,
          imagePullPolicy: 'IfNotPresent',
          command: ['sh', '-c', script],
          env: Object.entries(opts.env ?? {}).map(([name, value]) => ({ name, value })),
          ...(opts.readinessProbeCommand
            ? { readinessProbe: { exec: { command: opts.readinessProbeCommand }, periodSeconds: 1, failureThreshold: 1, successThreshold: 1 } }
            : {}),
        },
      ],
    },
  };
}

/** All of the pod's containers are running (the SLI's "all containers started"). */
export function allRunning(pod: V1Pod): boolean {
  const want = pod.spec?.containers.length ?? 0;
  const statuses = pod.status?.containerStatuses ?? [];
  return want > 0 && statuses.length === want && statuses.every((c) => c.state?.running !== undefined);
}

export const isReady = (pod: V1Pod): boolean => pod.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false;

export const terminatedFinishedAt = (pod: V1Pod): string | undefined => {
  const t = pod.status?.containerStatuses?.[0]?.state?.terminated;
  return t ? String(t.finishedAt ?? '') : undefined;
};

/** One watch event as received: its type, the object, and when it arrived here (ms since the epoch). */
export interface Observed {
  type: 'ADDED' | 'MODIFIED' | 'DELETED';
  pod: V1Pod;
  at: number;
}

/**
 * Watches the pods of one namespace and remembers every event with its receive time,
 * so a figure can be read as "the first event whose pod shows X". A watch the server
 * ends is resumed from the last resourceVersion; a 410 (too old) starts over with a list.
 */
export class PodTracker {
  private readonly history = new Map<string, Observed[]>();
  private readonly waiters = new Set<() => void>();
  private abort: AbortController | undefined;
  private stopped = false;
  private resourceVersion = '';

  constructor(
    private readonly cluster: Cluster,
    readonly namespace: string,
  ) {}

  /** Lists the namespace and starts watching from there; resolves once the watch is open. */
  async start(): Promise<void> {
    const list = await this.cluster.core.listNamespacedPod({ namespace: this.namespace });
    this.resourceVersion = list.metadata?.resourceVersion ?? '';
    await this.open();
  }

  private async open(): Promise<void> {
    if (this.stopped) return;
    const watch = new Watch(this.cluster.kc);
    this.abort = await watch.watch(
      `/api/v1/namespaces/${this.namespace}/pods`,
      { resourceVersion: this.resourceVersion, allowWatchBookmarks: true },
      (type, obj: V1Pod) => {
        const at = Date.now();
        if (obj?.metadata?.resourceVersion) this.resourceVersion = obj.metadata.resourceVersion;
        if (type === 'ERROR') {
          // 410 Gone: our resourceVersion is too old; start over from a fresh list.
          this.resourceVersion = '';
          return;
        }
        if (type !== 'ADDED' && type !== 'MODIFIED' && type !== 'DELETED') return;
        const name = obj.metadata?.name ?? '';
        const list = this.history.get(name) ?? [];
        list.push({ type, pod: obj, at });
        this.history.set(name, list);
        for (const w of [...this.waiters]) w();
      },
      () => {
        if (this.stopped) return;
        setTimeout(() => void (this.resourceVersion ? this.open() : this.start()).catch(() => undefined), 100);
      },
    );
  }

  stop(): void {
    this.stopped = true;
    this.abort?.abort();
    for (const w of [...this.waiters]) w();
  }

  /** Every event seen for a pod name so far. */
  events(name: string): readonly Observed[] {
    return this.history.get(name) ?? [];
  }

  /** Forgets a pod name's events (for reusing a name). */
  forget(name: string): void {
    this.history.delete(name);
  }

  /**
   * The first event (already seen or still to come) for `name` that matches, or
   * undefined after timeoutMs. `since` ignores events received before it.
   */
  first(name: string, match: (e: Observed) => boolean, timeoutMs: number, since = 0): Promise<Observed | undefined> {
    const find = () => this.events(name).find((e) => e.at >= since && match(e));
    const found = find();
    if (found || this.stopped) return Promise.resolve(found);
    return new Promise((resolve) => {
      const check = () => {
        const hit = find();
        if (!hit && !this.stopped) return;
        clearTimeout(timer);
        this.waiters.delete(check);
        resolve(hit);
      };
      const timer = setTimeout(() => {
        this.waiters.delete(check);
        resolve(undefined);
      }, timeoutMs);
      this.waiters.add(check);
    });
  }
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** A short random suffix for names. */
export const randomSuffix = () => Math.random().toString(16).slice(2, 8);
