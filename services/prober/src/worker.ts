import type { PodProbeView, Probe, ProbedContainer } from '@splitlet/contracts';
import { ProbeResultValue } from '@splitlet/contracts';
import type { Clock } from '@splitlet/service';
import type { Logger } from '@splitlet/telemetry';
import type { ProberMetrics } from './metrics';
import { probeTiming, type ProbeKindName, type ProbeTiming } from './probe-kind';
import type { Prober } from './prober';
import { isProbeError } from './probes/types';
import type { ProbeResults, SettledValue } from './results';

export interface WorkerDeps {
  clock: Clock;
  prober: Prober;
  results: ProbeResults;
  logger: Logger;
  /** In [0, 1): the first probe's jitter. */
  random: () => number;
  /** prober_probe_total and prober_probe_duration_seconds. */
  metrics: ProberMetrics;
}

// newWorker's initialValue: what a new container instance starts from.
const INITIAL: Record<ProbeKindName, SettledValue> = { liveness: 'success', readiness: 'failure', startup: 'unknown' };

/**
 * One probe (liveness, readiness or startup) of one container of one pod: the
 * kubelet's prober worker (pkg/kubelet/prober/worker.go). It has its own timer, so a
 * slow probe delays only itself. The pod view is replaced with update(); the probe
 * itself never changes (a changed probe gets a new worker).
 */
export class ProbeWorker {
  readonly timing: ProbeTiming;
  private containerId = '';
  private lastResult: 'success' | 'failure' | undefined;
  private resultRun = 0;
  private onHold = false;
  private triggered = false;
  private wake: AbortController | undefined;
  private readonly stopping = new AbortController();
  private running: Promise<void> | undefined;

  constructor(
    private readonly deps: WorkerDeps,
    private pod: PodProbeView,
    readonly containerName: string,
    readonly kind: ProbeKindName,
    readonly spec: Probe,
  ) {
    this.timing = probeTiming(spec, kind);
  }

  /**
   * Takes over what the bucket holds for the current instance (after a restart or a
   * handover), so a worker that starts anew neither resets nor repeats a settled result.
   */
  private resume(): void {
    const c = this.container();
    const held = this.deps.results.get(this.pod.podUid, this.containerName, this.kind);
    if (!c?.containerId || !held || held.containerId !== c.containerId) return;
    if (held.result !== ProbeResultValue.SUCCESS && held.result !== ProbeResultValue.FAILURE) return;
    this.containerId = held.containerId;
    this.lastResult = held.result === ProbeResultValue.SUCCESS ? 'success' : 'failure';
    this.resultRun = 1;
    // A liveness/startup failure of this instance was already acted on: wait for the next one.
    this.onHold = this.lastResult === 'failure' && this.kind !== 'readiness';
  }

  /** Starts the loop; with jitter, the first probe waits a random part of a period (a prober restart). */
  start(opts: { jitter: boolean }): void {
    if (this.running) return;
    this.resume();
    this.running = this.run(opts.jitter)
      .catch((err: unknown) => {
        if (!this.stopping.signal.aborted) this.deps.logger.error({ err, pod: this.pod.podUid, container: this.containerName, kind: this.kind }, 'probe worker failed');
      })
      .finally(() => {
        // A worker that ended on its own (its container will not run again) drops its
        // series as the kubelet's does; a stopped one did at stop().
        if (!this.stopping.signal.aborted) this.deps.metrics.forget(this.kind, this.pod, this.containerName);
      });
  }

  /**
   * The pod's newer view. The readiness of a started, running instance not yet ready is
   * probed at once: the kubelet's UpdatePodStatus triggers that worker (its only manual
   * trigger) at each status it computes, so a container is probed for readiness as soon
   * as its startup probe succeeds, not a period later. A new instance is not: it is
   * probed at the worker's next tick, as the kubelet's.
   */
  update(pod: PodProbeView): void {
    this.pod = pod;
    const c = this.container();
    if (this.kind === 'readiness' && c?.started && c.running && !this.settledSuccess()) this.trigger();
  }

  /** Whether this instance's readiness has settled on success (what the results hold). */
  private settledSuccess(): boolean {
    const c = this.container();
    const held = this.deps.results.get(this.pod.podUid, this.containerName, this.kind);
    return Boolean(c?.containerId && held && held.containerId === c.containerId && held.result === ProbeResultValue.SUCCESS);
  }

  /** Probes now, then goes on with the period as before. */
  trigger(): void {
    this.triggered = true;
    this.wake?.abort();
  }

  /** Stops the loop (an in-flight probe finishes but its result is dropped); resolves when stopped. */
  async stop(): Promise<void> {
    // Its series go now, not once the probe in flight ends: a worker that replaces this
    // one (a changed probe) counts under the same labels from the start.
    if (!this.stopping.signal.aborted) this.deps.metrics.forget(this.kind, this.pod, this.containerName);
    this.stopping.abort(new Error('worker stopped'));
    this.wake?.abort();
    await this.running;
  }

  private async run(jitter: boolean): Promise<void> {
    const periodMs = this.timing.periodSeconds * 1000;
    const { clock } = this.deps;
    const signal = this.stopping.signal;
    // "If kubelet restarted the probes could be started in rapid succession."
    // (The kubelet's time.Sleep: only a stop ends it; a trigger meanwhile runs a second probe right after the first.)
    if (jitter) {
      await clock.sleep(Math.floor(this.deps.random() * periodMs), signal).catch(() => undefined);
      if (signal.aborted) return;
    }
    let nextTick = clock.now() + periodMs;
    while (!signal.aborted) {
      if (!(await this.doProbe())) return;
      if (signal.aborted) return;
      // A time.Ticker: ticks stay on their grid; one missed during a long probe fires at once.
      const now = clock.now();
      if (this.triggered) {
        // A trigger that came during the probe: probed again now, and the ticker reset
        // (kubelet 1.36's probeTicker.Reset at a manual run).
        this.triggered = false;
        nextTick = now + periodMs;
        continue;
      }
      if (now >= nextTick) {
        nextTick += Math.floor((now - nextTick) / periodMs + 1) * periodMs;
        continue;
      }
      // One controller per wait, aborted by trigger() or stop() (no AbortSignal.any: its
      // followers stay attached to the long-lived stop signal, one per tick).
      this.wake = new AbortController();
      try {
        await clock.sleep(nextTick - now, this.wake.signal);
        nextTick += periodMs;
      } catch {
        if (signal.aborted) return;
        // Woken by trigger(): probe now; the next tick is a period from now.
        this.triggered = false;
        nextTick = clock.now() + periodMs;
      }
    }
  }

  private container(): ProbedContainer | undefined {
    return this.pod.containers.find((c) => c.name === this.containerName);
  }

  private set(value: SettledValue, message = ''): void {
    if (this.stopping.signal.aborted) return;
    this.deps.results.set(this.pod.podUid, this.containerName, this.kind, this.containerId, value, message);
  }

  /** worker.doProbe: one round; returns whether the worker should go on. */
  async doProbe(): Promise<boolean> {
    const pod = this.pod;
    const c = this.container();
    // Not created yet (or the view lost it): wait for more information.
    if (!c || !c.containerId) return true;

    if (this.containerId !== c.containerId) {
      this.containerId = c.containerId;
      this.lastResult = undefined;
      this.resultRun = 0;
      this.onHold = false; // a new instance: resume probing
      this.set(INITIAL[this.kind]);
    }
    if (this.onHold) return true;

    if (!c.running) {
      this.set('failure');
      // Stop when the instance will not be restarted.
      return !c.terminated || pod.restartPolicy !== 'Never';
    }

    // Graceful shutdown: every probe of a terminating pod stops (pod-sync reports it not
    // ready); liveness and startup end on success, so they never kill a terminating container.
    if (pod.terminating) {
      if (this.kind !== 'readiness') this.set('success');
      return false;
    }

    const startedAtMs = Number(c.startedAt / 1_000_000n);
    if (Math.trunc((this.deps.clock.now() - startedAtMs) / 1000) < this.timing.initialDelaySeconds) return true;

    // Startup probes run until the container has started; the others only after.
    if (c.started ? this.kind === 'startup' : this.kind !== 'startup') return true;

    const probedId = this.containerId;
    const startedAt = this.deps.clock.now();
    let verdict;
    try {
      // A stop does not wait for the probe in flight (it ends within its own timeout anyway).
      verdict = await abortable(this.deps.prober.probe(this.kind, pod, c, this.spec), this.stopping.signal);
    } catch (err) {
      if (this.stopping.signal.aborted) return false;
      if (!isProbeError(err)) throw err;
      return true; // a prober error: the result is thrown away
    }
    if (this.stopping.signal.aborted) return false;
    // Counted as the kubelet counts every probe that ran, before thresholds and whatever became of the instance.
    this.deps.metrics.observe(this.kind, pod, this.containerName, verdict.result, (this.deps.clock.now() - startedAt) / 1000);
    // The view moved on to another instance while probing: this result is about the old one.
    if (this.container()?.containerId !== probedId) return true;

    if (this.lastResult === verdict.result) this.resultRun++;
    else {
      this.lastResult = verdict.result;
      this.resultRun = 1;
    }
    const threshold = verdict.result === 'failure' ? this.timing.failureThreshold : this.timing.successThreshold;
    if (this.resultRun < threshold) return true;

    this.set(verdict.result, verdict.result === 'failure' ? verdict.output : '');
    if (this.kind !== 'readiness' && verdict.result === 'failure') {
      // The container will be restarted: no probing until a new instance.
      this.onHold = true;
      this.resultRun = 0;
    }
    return true;
  }
}

/** p, or a rejection as soon as signal aborts. */
function abortable<T>(p: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(signal.reason as Error);
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason as Error);
    signal.addEventListener('abort', onAbort, { once: true });
    p.then(
      (v) => {
        signal.removeEventListener('abort', onAbort);
        resolve(v);
      },
      (err: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(err as Error);
      },
    );
  });
}
