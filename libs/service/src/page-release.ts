import { performance, type EventLoopUtilization } from 'node:perf_hooks';

/**
 * Gives V8's freed pages back once a burst of work is over (issue 17).
 *
 * A burst (100 pods replaced every 30 s) grows V8's heap; when it ends, V8's collections
 * shrink the heap (pod-sync: total up to 118 → 45 MiB, in use ~40) but keep the freed pages
 * in its pool, resident: pod-sync stayed at 211 MiB RSS for minutes after the churn,
 * against 119 before it. Only a collection of all available garbage (what the
 * inspector's HeapProfiler.collectGarbage asks for) empties the pool: pod-sync 216 →
 * 131 MiB, and it stayed there. V8's own memory reducer would do this when the
 * allocation rate is low, but the services' steady rate keeps it off.
 *
 * On by default; SPLITLET_PAGE_RELEASE=false turns it off.
 *
 * So: every checkMs, when RSS is thresholdBytes above the lowest this process has had
 * and the event loop was quiet over the last check (no burst going on, which would
 * take the pages again), one such collection. At most every minIntervalMs; when the
 * pages came back by the next check, the interval doubles (up to maxIntervalMs), so a
 * process whose working size is simply larger is not collected again and again.
 */
export interface PageReleaseOptions {
  checkMs: number;
  thresholdBytes: number;
  /** The event loop's busy share (0..1) over the last check below which the process is quiet. */
  quietUtilization: number;
  minIntervalMs: number;
  maxIntervalMs: number;
}

export const PAGE_RELEASE_DEFAULTS: PageReleaseOptions = {
  checkMs: 30_000,
  thresholdBytes: 32 * 1048576,
  quietUtilization: 0.05,
  minIntervalMs: 5 * 60_000,
  maxIntervalMs: 60 * 60_000,
};

/** What the release looks at and does: the process's own in production, fakes in tests. */
export interface PageReleaseProbe {
  rss(): number;
  /** The event loop's busy share since the last call. */
  utilization(): number;
  collect(): Promise<void>;
  now(): number;
}

export interface PageReleased {
  beforeBytes: number;
  afterBytes: number;
  tookMs: number;
}

export class PageRelease {
  private low = Infinity;
  private last = -Infinity;
  private interval: number;
  /** RSS just before the last collection, until the next check has looked whether it came back. */
  private releasedFrom: number | undefined;

  constructor(
    private readonly opts: PageReleaseOptions,
    private readonly probe: PageReleaseProbe,
  ) {
    this.interval = opts.minIntervalMs;
  }

  /** One look: collects when it should, and says what that gave. */
  async check(): Promise<PageReleased | undefined> {
    const rss = this.probe.rss();
    const busy = this.probe.utilization();
    const now = this.probe.now();
    if (this.releasedFrom !== undefined) {
      const cameBack = rss >= this.releasedFrom - this.opts.thresholdBytes / 2;
      this.interval = cameBack ? Math.min(this.interval * 2, this.opts.maxIntervalMs) : this.opts.minIntervalMs;
      this.releasedFrom = undefined;
    }
    this.low = Math.min(this.low, rss);
    if (rss - this.low < this.opts.thresholdBytes || busy > this.opts.quietUtilization || now - this.last < this.interval) return undefined;
    await this.probe.collect();
    const after = this.probe.rss();
    this.last = this.probe.now();
    this.low = Math.min(this.low, after);
    this.releasedFrom = rss;
    return { beforeBytes: rss, afterBytes: after, tookMs: this.last - now };
  }

  /** Looks every checkMs until the signal aborts; what a collection gave goes to onReleased. */
  start(signal: AbortSignal, onReleased: (r: PageReleased) => void, onError: (err: unknown) => void): void {
    let checking = false;
    const timer = setInterval(() => {
      if (checking) return;
      checking = true;
      this.check()
        .then((r) => r && onReleased(r), onError)
        .finally(() => (checking = false));
    }, this.opts.checkMs).unref();
    signal.addEventListener('abort', () => clearInterval(timer), { once: true });
  }
}

/** This process: its RSS, its event loop, and V8's collection of all available garbage. */
export function processProbe(): PageReleaseProbe {
  let prev: EventLoopUtilization = performance.eventLoopUtilization();
  return {
    rss: () => process.memoryUsage.rss(),
    utilization: () => {
      const now = performance.eventLoopUtilization();
      const delta = performance.eventLoopUtilization(now, prev);
      prev = now;
      return delta.utilization;
    },
    collect: async () => {
      // An in-process session: no port is opened, and it is closed again at once. Loaded
      // here, not at start, and as node's own module (the bundles are CommonJS: an
      // import() would start node's ES module loader for it).
      const { Session } = process.getBuiltinModule('node:inspector');
      const session = new Session();
      session.connect();
      try {
        await new Promise<void>((resolve, reject) => session.post('HeapProfiler.collectGarbage', (err) => (err ? reject(err) : resolve())));
      } finally {
        session.disconnect();
      }
    },
    now: () => performance.now(),
  };
}
