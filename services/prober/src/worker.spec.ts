import { afterEach, describe, expect, it } from 'vitest';
import { MAX_TIMER_MS } from '@splitlet/bus';
import type { PodProbeView } from '@splitlet/contracts';
import { FakeClock } from '@splitlet/testing';
import { ProberMetrics } from './metrics';
import { fail, FakeProber, MemoryResults, ok, silentLogger } from './__fixtures__/fakes';
import { container, podView, probe, type ContainerInit, type ProbeInit } from './__fixtures__/views';
import { probeTiming, type ProbeKindName } from './probe-kind';
import { ProbeWorker } from './worker';

const T0 = Date.UTC(2026, 0, 1);
const nanos = (ms: number) => BigInt(ms) * 1_000_000n;

interface Setup {
  kind: ProbeKindName;
  probe?: ProbeInit;
  container?: ContainerInit;
  pod?: Partial<Omit<PodProbeView, '$typeName' | 'containers'>>;
  jitter?: number;
}

const workers: ProbeWorker[] = [];
afterEach(async () => {
  await Promise.all(workers.splice(0).map((w) => w.stop()));
});

function setup(s: Setup, shared?: { clock: FakeClock; prober: FakeProber; results: MemoryResults; metrics: ProberMetrics }) {
  const clock = shared?.clock ?? new FakeClock(T0);
  const metrics = shared?.metrics ?? new ProberMetrics();
  const prober = shared?.prober ?? new FakeProber(clock);
  const results = shared?.results ?? new MemoryResults();
  const view = (c: ContainerInit = {}, p = s.pod) => podView([container({ startedAt: nanos(T0), ...s.container, ...c })], p);
  const worker = new ProbeWorker({ clock, prober, results, logger: silentLogger, random: () => s.jitter ?? 0, metrics }, view(), 'app', s.kind, probe(s.probe));
  workers.push(worker);
  const key = `uid-1.app.${s.kind}`;
  return { clock, prober, results, metrics, worker, view, key, seq: () => results.seq(key), start: async (jitter = s.jitter !== undefined) => {
      worker.start({ jitter });
      await clock.settle();
    },
  };
}

/** Times of the probe calls of a kind, in seconds after T0. */
const times = (p: FakeProber, kind: ProbeKindName) => p.calls.filter((c) => c.kind === kind).map((c) => (c.at - T0) / 1000);

describe('prober worker', () => {
  it('worker - a probe of zeros gets the API defaults (period 10, timeout 1, thresholds 1 and 3, no delay)', async () => {
    expect(probeTiming(probe({ periodSeconds: 0, timeoutSeconds: 0, successThreshold: 0, failureThreshold: 0, initialDelaySeconds: 0 }), 'readiness')).toEqual({
      initialDelaySeconds: 0,
      timeoutSeconds: 1,
      periodSeconds: 10,
      successThreshold: 1,
      failureThreshold: 3,
    });
    expect(probeTiming(probe({ successThreshold: 3 }), 'liveness').successThreshold).toBe(1);
    const t = setup({ kind: 'readiness', probe: { periodSeconds: 0, failureThreshold: 0 } });
    await t.start();
    await t.clock.advance(35_000);
    expect(times(t.prober, 'readiness')).toEqual([0, 10, 20, 30]);
  });

  it('worker - a period or timeout past what a timer can wait (validation allows 2^31 - 1 s) is the longest it can: a timer past 24.8 days fired after 1 ms, spinning the worker', async () => {
    const longest = probeTiming(probe({ periodSeconds: 2 ** 31 - 1, timeoutSeconds: 2 ** 31 - 1, initialDelaySeconds: 2 ** 31 - 1 }), 'liveness');
    expect(longest.periodSeconds * 1000).toBeLessThanOrEqual(MAX_TIMER_MS);
    expect(longest.timeoutSeconds * 1000).toBeLessThanOrEqual(MAX_TIMER_MS);
    expect(longest.periodSeconds).toBeGreaterThan(24 * 86_400);
    // initialDelaySeconds is compared with the container's age, never a timer: kept.
    expect(longest.initialDelaySeconds).toBe(2 ** 31 - 1);
  });

  it('worker - a new instance starts from the initial value: liveness success, readiness failure, startup unknown (not published)', async () => {
    const live = setup({ kind: 'liveness' });
    const ready = setup({ kind: 'readiness' }, live);
    const startup = setup({ kind: 'startup', container: { started: false } }, live);
    live.prober.script('startup', fail('not yet'));
    for (const t of [live, ready, startup]) await t.start();
    await live.clock.settle();
    expect(live.seq()).toEqual(['c1:success']);
    expect(ready.seq()).toEqual(['c1:failure', 'c1:success']);
    expect(startup.seq()).toEqual([]); // one failure, threshold 3: still unknown
  });

  it('worker - successThreshold and failureThreshold settle a result only after that many in a row; errors are thrown away', async () => {
    const t = setup({ kind: 'readiness', probe: { periodSeconds: 1, successThreshold: 2, failureThreshold: 2 } });
    t.prober.script('readiness', ok, 'error', ok, fail('x'), ok, fail('a'), fail('b'), ok);
    await t.start();
    await t.clock.advance(7_000);
    expect(t.prober.count('readiness')).toBe(8);
    // ok, (error), ok → success; fail, ok, fail → nothing; fail → failure
    expect(t.results.published.map((p) => `${p.result}:${p.message}`)).toEqual(['failure:', 'success:', 'failure:b']);
  });

  it('worker - initialDelaySeconds counts from the container start', async () => {
    const t = setup({ kind: 'liveness', probe: { initialDelaySeconds: 15 }, container: { startedAt: nanos(T0 - 2_000) } });
    await t.start();
    await t.clock.advance(30_000);
    expect(times(t.prober, 'liveness')).toEqual([20, 30]);
  });

  it('worker - until the container has started only the startup probe runs; after, only the others', async () => {
    const s = setup({ kind: 'startup', probe: { periodSeconds: 1 }, container: { started: false } });
    const l = setup({ kind: 'liveness', probe: { periodSeconds: 1 } }, s);
    l.worker.update(l.view({ started: false }));
    await s.start();
    await l.start();
    await s.clock.advance(2_500);
    expect(times(s.prober, 'startup')).toEqual([0, 1, 2]);
    expect(s.seq()).toEqual(['c1:success']);
    expect(times(s.prober, 'liveness')).toEqual([]);
    s.worker.update(s.view({ started: true }));
    l.worker.update(l.view({ started: true }));
    await s.clock.advance(2_000);
    expect(times(s.prober, 'startup')).toEqual([0, 1, 2]);
    expect(times(s.prober, 'liveness')).toEqual([3, 4]);
  });

  it('worker - readiness is probed at once when the startup probe has succeeded (the view says started), not a period later; a ready instance is not re-triggered', async () => {
    const r = setup({ kind: 'readiness', probe: { periodSeconds: 30 }, container: { started: false } });
    await r.start();
    await r.clock.advance(5_000);
    expect(times(r.prober, 'readiness')).toEqual([]);
    r.worker.update(r.view({ started: true }));
    await r.clock.settle();
    expect(times(r.prober, 'readiness')).toEqual([5]);
    expect(r.seq()).toEqual(['c1:failure', 'c1:success']);
    // Ready: a newer view (a label, say) triggers nothing; the period goes on, from the
    // manual run (kubelet 1.36 resets its ticker there): 35, not 30.
    r.worker.update(r.view({ started: true }));
    await r.clock.advance(29_000);
    expect(times(r.prober, 'readiness')).toEqual([5]);
    await r.clock.advance(1_000);
    expect(times(r.prober, 'readiness')).toEqual([5, 35]);
  });

  it('worker - a liveness failure holds the worker until a new container id, which starts afresh at the next tick (readiness is the kubelet\'s only manual trigger)', async () => {
    const t = setup({ kind: 'liveness', probe: { periodSeconds: 10, failureThreshold: 3 } });
    t.prober.script('liveness', fail('boom'), fail('boom'), fail('boom'), ok);
    await t.start();
    await t.clock.advance(100_000);
    expect(times(t.prober, 'liveness')).toEqual([0, 10, 20]);
    expect(t.results.published.at(-1)).toMatchObject({ containerId: 'c1', result: 'failure', message: 'boom' });
    t.worker.update(t.view({ containerId: 'c2', startedAt: nanos(T0 + 100_000) }));
    await t.clock.advance(9_000);
    expect(times(t.prober, 'liveness')).toEqual([0, 10, 20]);
    await t.clock.advance(1_000);
    expect(times(t.prober, 'liveness')).toEqual([0, 10, 20, 110]);
    expect(t.seq()).toEqual(['c1:success', 'c1:failure', 'c2:success']);
  });

  it('worker - a startup failure holds too; readiness failures never hold', async () => {
    const s = setup({ kind: 'startup', probe: { periodSeconds: 1, failureThreshold: 2 }, container: { started: false } });
    const r = setup({ kind: 'readiness', probe: { periodSeconds: 1, failureThreshold: 2 } }, s);
    s.prober.script('startup', fail('no'));
    s.prober.script('readiness', fail('no'));
    await s.start();
    await r.start();
    await s.clock.advance(5_000);
    expect(s.prober.count('startup')).toBe(2);
    expect(s.prober.count('readiness')).toBe(6);
    expect(s.seq()).toEqual(['c1:failure']);
  });

  it('worker - a container that is not running is not probed and fails; with restartPolicy Never and exited, the worker ends', async () => {
    const t = setup({ kind: 'liveness', container: { running: false, terminated: true }, pod: { restartPolicy: 'Never' } });
    await t.start();
    await t.clock.advance(30_000);
    expect(t.prober.calls).toEqual([]);
    expect(t.seq()).toEqual(['c1:success', 'c1:failure']);
    expect(t.clock.pending).toBe(0); // no timer left: the worker ended

    const again = setup({ kind: 'liveness', container: { running: false, terminated: true }, pod: { restartPolicy: 'Always' } });
    await again.start();
    await again.clock.advance(10_000);
    expect(again.clock.pending).toBe(1); // it will restart: keep waiting
  });

  it('worker - a terminating pod: every probe stops; liveness and startup settle on success', async () => {
    const l = setup({ kind: 'liveness', probe: { periodSeconds: 1 } });
    const s = setup({ kind: 'startup', probe: { periodSeconds: 1 }, container: { started: false } }, l);
    const r = setup({ kind: 'readiness', probe: { periodSeconds: 1 } }, l);
    l.prober.script('liveness', fail('x'));
    l.prober.script('startup', fail('x'));
    for (const t of [l, s, r]) await t.start();
    await l.clock.advance(1_000);
    for (const t of [l, s, r]) t.worker.update(t.view({}, { terminating: true }));
    await l.clock.advance(5_000);
    expect(l.prober.count('liveness')).toBe(2);
    expect(l.prober.count('startup')).toBe(2);
    expect(l.prober.count('readiness')).toBe(2);
    expect(l.seq()).toEqual(['c1:success']);
    expect(s.seq()).toEqual(['c1:success']);
  });

  it('worker - the first probe waits a random part of the period only when asked (a prober restart)', async () => {
    const t = setup({ kind: 'readiness', probe: { periodSeconds: 10 }, jitter: 0.45 });
    await t.start(true);
    await t.clock.advance(20_000);
    expect(times(t.prober, 'readiness')).toEqual([4.5, 14.5]);
  });

  it('worker - ticks stay on the period grid; a probe longer than the period runs the missed tick at once', async () => {
    const t = setup({ kind: 'readiness', probe: { periodSeconds: 10, timeoutSeconds: 30 } });
    const slow = (ms: number) => () => t.clock.sleep(ms).then(() => ok);
    t.prober.script('readiness', slow(3_000), slow(3_000), slow(25_000), slow(1_000));
    await t.start();
    await t.clock.advance(60_000);
    expect(times(t.prober, 'readiness')).toEqual([0, 10, 20, 45, 50, 60]);
  });

  it('worker - a probe that hangs delays only its own worker', async () => {
    const hung = setup({ kind: 'liveness', probe: { periodSeconds: 1 } });
    const other = setup({ kind: 'readiness', probe: { periodSeconds: 1 } }, hung);
    hung.prober.script('liveness', 'hang');
    await hung.start();
    await other.start();
    await hung.clock.advance(5_000);
    expect(times(hung.prober, 'liveness')).toEqual([0]);
    expect(times(hung.prober, 'readiness')).toEqual([0, 1, 2, 3, 4, 5]);
  });

  it('worker - resumes from the held result of the same instance: no initial value, no repeat; a held liveness failure holds', async () => {
    const r = setup({ kind: 'readiness', probe: { periodSeconds: 1 } });
    r.results.hold('uid-1', 'app', 'readiness', 'c1', 'success');
    r.results.hold('uid-1', 'app', 'liveness', 'c1', 'failure');
    const l = setup({ kind: 'liveness', probe: { periodSeconds: 1 } }, r);
    await r.start(true);
    await l.start(true);
    await r.clock.advance(3_000);
    expect(r.results.published).toEqual([]);
    expect(times(r.prober, 'readiness')).toEqual([0, 1, 2, 3]);
    expect(r.prober.count('liveness')).toBe(0);
  });

  it('worker - a result held for an older instance is replaced by the new instance initial value', async () => {
    const t = setup({ kind: 'readiness' });
    t.results.hold('uid-1', 'app', 'readiness', 'c0', 'success');
    t.prober.script('readiness', fail());
    await t.start();
    await t.clock.settle();
    expect(t.seq()).toEqual(['c1:failure']);
  });

  it('worker - waits while the container has no id yet, and drops a result about an instance the view has left', async () => {
    const t = setup({ kind: 'readiness', probe: { periodSeconds: 10 }, container: { containerId: '' } });
    let release: () => void = () => undefined;
    t.prober.script('readiness', () => new Promise((r) => (release = () => r(ok))), ok);
    await t.start();
    await t.clock.advance(10_000);
    expect(t.prober.count('readiness')).toBe(0);
    t.worker.update(t.view({ containerId: 'c1' }));
    await t.clock.settle();
    expect(t.prober.count('readiness')).toBe(1);
    t.worker.update(t.view({ containerId: 'c2' }));
    release();
    await t.clock.settle();
    // c1's success came after the view moved to c2: dropped; c2 is probed at once.
    expect(t.seq()).toEqual(['c1:failure', 'c2:failure', 'c2:success']);
  });

  it('worker - stop ends the loop and drops an in-flight result', async () => {
    const t = setup({ kind: 'readiness', probe: { periodSeconds: 1 } });
    t.prober.script('readiness', () => t.clock.sleep(500).then(() => ok));
    await t.start();
    await t.clock.settle();
    const stopped = t.worker.stop();
    await t.clock.advance(5_000);
    await stopped;
    expect(t.prober.count('readiness')).toBe(1);
    expect(t.seq()).toEqual(['c1:failure']);
  });
});

/** The worker's series as node-api would read them: `<sample name>{labels}` → value. */
async function series(metrics: ProberMetrics): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (const f of await metrics.registry.getMetricsAsJSON()) {
    for (const v of f.values as { value: number; labels: Record<string, string | number>; metricName?: string }[]) {
      const labels = Object.entries(v.labels).map(([k, l]) => `${k}=${l}`).join(',');
      out[`${v.metricName ?? f.name}{${labels}}`] = v.value;
    }
  }
  return out;
}

const RESULT = (result: string, kind = 'Readiness') => `prober_probe_total{probe_type=${kind},container=app,pod=web,namespace=default,result=${result},pod_uid=uid-1}`;
const DURATION = (suffix: string, extra = '') => `prober_probe_duration_seconds_${suffix}{${extra}probe_type=Readiness,container=app,pod=web,namespace=default}`;

describe('prober worker metrics', () => {
  it('worker metrics - each probe that ran is counted by result, a success with its duration; a probe that errored is not counted', async () => {
    const t = setup({ kind: 'readiness', probe: { periodSeconds: 1, failureThreshold: 5 } });
    const slowOk = async () => {
      await t.clock.sleep(300);
      return ok;
    };
    t.prober.script('readiness', ok, slowOk, fail(), 'error', fail(), ok);
    await t.start();
    await t.clock.advance(5_500);
    expect(t.prober.count('readiness')).toBe(6);
    const s = await series(t.metrics);
    expect(s[RESULT('successful')]).toBe(3);
    expect(s[RESULT('failed')]).toBe(2);
    expect(s[RESULT('unknown')]).toBeUndefined();
    expect(s[DURATION('count')]).toBe(3);
    expect(s[DURATION('sum')]).toBeCloseTo(0.3);
    expect(s[DURATION('bucket', 'le=0.25,')]).toBe(2);
    expect(s[DURATION('bucket', 'le=0.5,')]).toBe(3);
  });

  it('worker metrics - a stopped worker takes its series with it, also while a probe is in flight (its result is not counted)', async () => {
    const t = setup({ kind: 'readiness', probe: { periodSeconds: 1 } });
    t.prober.script('readiness', ok, 'hang');
    await t.start();
    await t.clock.advance(1_000);
    expect(t.prober.count('readiness')).toBe(2);
    expect((await series(t.metrics))[RESULT('successful')]).toBe(1);
    await t.worker.stop();
    expect(await series(t.metrics)).toEqual({});
  });

  it('worker metrics - a worker that ends on its own (exited under restartPolicy Never) drops its series', async () => {
    const t = setup({ kind: 'readiness', probe: { periodSeconds: 1 }, pod: { restartPolicy: 'Never' } });
    await t.start();
    await t.clock.advance(1_000);
    expect((await series(t.metrics))[RESULT('successful')]).toBe(2);
    t.worker.update(t.view({ running: false, terminated: true }));
    await t.clock.advance(2_000);
    expect(t.clock.pending).toBe(0);
    expect(await series(t.metrics)).toEqual({});
  });
});
