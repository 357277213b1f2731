import { beforeEach, describe, expect, it } from 'vitest';
import type { V1Pod } from '@kubernetes/client-node';
import type { KV } from '@nats-io/kv';
import { kvGet, kvPut, NODE_SHUTDOWN_KEY, nodeStateBucket, openBucket } from '@splitlet/bus';
import { podsyncv1 } from '@splitlet/contracts';
import { createLogger } from '@splitlet/telemetry';
import { FakeClock, useNatsServer, waitFor } from '@splitlet/testing';
import { configSchema, shutdownPeriodsOf } from './config';
import { gracePeriodFor, groupByPriority, migrateConfig, NodeShutdownManager, parseGracePeriodByPriority, shutdownSettingsErrors, type GracePeriodByPriority } from './node-shutdown';
import type { Eviction } from './pod-syncer';

const logger = createLogger('node-shutdown-test', { level: 'silent' });
const pod = (uid: string, priority?: number, terminationGracePeriodSeconds?: number): V1Pod => ({
  metadata: { uid, name: uid, namespace: 'default' },
  spec: { containers: [], ...(priority !== undefined ? { priority } : {}), ...(terminationGracePeriodSeconds !== undefined ? { terminationGracePeriodSeconds } : {}) },
  status: { phase: 'Running', startTime: new Date() },
});
const uids = (pods: V1Pod[]) => pods.map((p) => p.metadata!.uid);

describe('node shutdown: the kubelet\'s configuration and groups', () => {
  it('migrateConfig - shutdownGracePeriod and its critical share as two priority groups; none when 0 or inconsistent', () => {
    expect(migrateConfig(30, 10)).toEqual([
      { priority: 0, shutdownGracePeriodSeconds: 20 },
      { priority: 2_000_000_000, shutdownGracePeriodSeconds: 10 },
    ]);
    expect(migrateConfig(30, 0)).toEqual([
      { priority: 0, shutdownGracePeriodSeconds: 30 },
      { priority: 2_000_000_000, shutdownGracePeriodSeconds: 0 },
    ]);
    expect(migrateConfig(0, 0)).toEqual([]);
    expect(migrateConfig(10, 20)).toEqual([]);
    // Whole seconds, as int64(d / time.Second).
    expect(migrateConfig(30.7, 10.2)).toEqual([
      { priority: 0, shutdownGracePeriodSeconds: 20 },
      { priority: 2_000_000_000, shutdownGracePeriodSeconds: 10 },
    ]);
  });

  it('groupByPriority - a pod goes to the highest group not above its priority; below every group: the lowest, above every group: the highest', () => {
    const periods: GracePeriodByPriority[] = [
      { priority: 1, shutdownGracePeriodSeconds: 10 },
      { priority: 100_000, shutdownGracePeriodSeconds: 20 },
      { priority: 2_000_000_000, shutdownGracePeriodSeconds: 30 },
    ];
    const pods = [pod('neg', -5), pod('none'), pod('one', 1), pod('below', 99_999), pod('at', 100_000), pod('user-max', 1_000_000_000), pod('cluster-critical', 2_000_000_000), pod('node-critical', 2_000_001_000)];
    const groups = groupByPriority(periods, pods);
    expect(groups.map((g) => [g.priority, g.shutdownGracePeriodSeconds, uids(g.pods)])).toEqual([
      [1, 10, ['neg', 'none', 'one', 'below']],
      [100_000, 20, ['at', 'user-max']],
      [2_000_000_000, 30, ['cluster-critical', 'node-critical']],
    ]);
    expect(groupByPriority([], pods)).toEqual([]);
  });

  it('gracePeriodFor - the group\'s grace period, or the pod\'s own when that is shorter', () => {
    expect(gracePeriodFor(pod('a', 0, 5), 20)).toBe(5);
    expect(gracePeriodFor(pod('b', 0, 20), 20)).toBe(20);
    expect(gracePeriodFor(pod('c', 0, 30), 20)).toBe(20);
    expect(gracePeriodFor(pod('d', 0), 20)).toBe(20);
  });

  it('parseGracePeriodByPriority - <priority>=<seconds> entries, sorted by priority; anything else is refused', () => {
    expect(parseGracePeriodByPriority(' 100000=10, 0=20 ,2000000000=5')).toEqual([
      { priority: 0, shutdownGracePeriodSeconds: 20 },
      { priority: 100_000, shutdownGracePeriodSeconds: 10 },
      { priority: 2_000_000_000, shutdownGracePeriodSeconds: 5 },
    ]);
    expect(parseGracePeriodByPriority('')).toEqual([]);
    expect(() => parseGracePeriodByPriority('0=20s')).toThrow(/want <priority>=<seconds>/);
    expect(() => parseGracePeriodByPriority('3000000000=1')).toThrow(/no int32/);
  });

  it('the settings - the kubelet\'s validation messages; unset, 30s of which 10s for critical pods', () => {
    expect(shutdownSettingsErrors({ gracePeriodSeconds: 90, criticalSeconds: 100, byPriority: [] })).toEqual(['invalid configuration: shutdownGracePeriodCriticalPods 1m40s must be <= shutdownGracePeriod 1m30s']);
    expect(shutdownSettingsErrors({ gracePeriodSeconds: 0.5, criticalSeconds: 0, byPriority: [] })).toEqual(['invalid configuration: shutdownGracePeriod 500ms must be either zero or otherwise >= 1 sec']);
    expect(shutdownSettingsErrors({ gracePeriodSeconds: 30, criticalSeconds: 0, byPriority: [] })).toEqual([]);
    expect(shutdownSettingsErrors({ gracePeriodSeconds: 30, criticalSeconds: 0, byPriority: [{ priority: 0, shutdownGracePeriodSeconds: 1 }] })).toEqual([
      'invalid configuration: Cannot specify both shutdownGracePeriodByPodPriority and shutdownGracePeriod at the same time',
    ]);
    const base = { SPLITLET_NODE_NAME: 'n1' };
    expect(shutdownPeriodsOf(configSchema.parse(base))).toEqual(migrateConfig(30, 10));
    expect(shutdownPeriodsOf(configSchema.parse({ ...base, SPLITLET_SHUTDOWN_GRACE_PERIOD: '1m' }))).toEqual(migrateConfig(60, 0));
    expect(shutdownPeriodsOf(configSchema.parse({ ...base, SPLITLET_SHUTDOWN_GRACE_PERIOD: '0s' }))).toEqual([]);
    expect(shutdownPeriodsOf(configSchema.parse({ ...base, SPLITLET_SHUTDOWN_GRACE_PERIOD_BY_POD_PRIORITY: '0=4,100000=2' }))).toEqual(parseGracePeriodByPriority('0=4,100000=2'));
    expect(configSchema.safeParse({ ...base, SPLITLET_SHUTDOWN_GRACE_PERIOD_CRITICAL_PODS: '40s' }).error?.issues[0]?.message).toBe('invalid configuration: shutdownGracePeriodCriticalPods 40s must be <= shutdownGracePeriod 30s');
    expect(configSchema.safeParse({ ...base, SPLITLET_SHUTDOWN_GRACE_PERIOD: '20s', SPLITLET_SHUTDOWN_GRACE_PERIOD_BY_POD_PRIORITY: '0=4' }).error?.issues[0]?.message).toMatch(/Cannot specify both/);
    expect(configSchema.safeParse({ ...base, SPLITLET_SHUTDOWN_GRACE_PERIOD: 'soon' }).success).toBe(false);
  });
});

describe('node shutdown manager (a real NATS bucket)', () => {
  const nats = useNatsServer();
  let n = 0;

  /** A manager over these pods: running is what the runtime runs, terminate stops nothing by itself. */
  let node: string;
  let kv: KV;
  beforeEach(async () => {
    node = `shutdown-${++n}`;
    kv = await openBucket(nats.nc, nodeStateBucket(node));
  });
  const setup = (pods: V1Pod[], opts: { periods?: GracePeriodByPriority[]; boot?: string; bucket?: () => Promise<KV> } = {}) => {
    const clock = new FakeClock();
    const running = new Set(uids(pods).map(String));
    const terminated: { uid: string; how: Eviction; at: number }[] = [];
    const events: string[] = [];
    const manager = new NodeShutdownManager({
      periods: opts.periods ?? migrateConfig(30, 10),
      bucket: opts.bucket ?? (async () => kv),
      bootId: async () => opts.boot ?? 'boot-1',
      pods: () => pods,
      synced: async () => undefined,
      active: (p) => running.has(p.metadata!.uid!) && !terminated.some((t) => t.uid === p.metadata!.uid),
      terminate: (p, how) => void terminated.push({ uid: p.metadata!.uid!, how, at: clock.now() }),
      runningPods: async () => new Set(running),
      nodeEvent: (type, reason, message) => void events.push(`${type} ${reason} ${message}`),
      clock,
      logger,
    });
    return { clock, running, terminated, events, manager };
  };
  const stored = () => kvGet(kv, NODE_SHUTDOWN_KEY, podsyncv1.NodeShutdownStateSchema);

  it('terminates the pods below system-critical first (20 s), the critical ones once those stopped (10 s): Failed, Terminated, DisruptionTarget, no pod Event; one Node Event; the state kept in the bucket', async () => {
    const { clock, running, terminated, events, manager } = setup([pod('web', 0, 60), pod('batch', 1000, 5), pod('dns', 2_000_000_000)]);
    expect(manager.shuttingDown()).toBe(false);
    const state = await manager.shutdown();
    expect(manager.shuttingDown()).toBe(true);
    expect(state.bootId).toBe('boot-1');
    expect(state.startedAt).toBe(BigInt(clock.now()));
    await waitFor('the first group terminated', async () => (terminated.length === 2 ? true : undefined), 5_000);
    expect(terminated.map((t) => [t.uid, t.how])).toEqual([
      ['web', { reason: 'Terminated', message: 'Pod was terminated in response to imminent node shutdown.', gracePeriodSeconds: 20, disruption: true, event: false }],
      ['batch', { reason: 'Terminated', message: 'Pod was terminated in response to imminent node shutdown.', gracePeriodSeconds: 5, disruption: true, event: false }],
    ]);
    // The critical pod waits while the first group still runs.
    await clock.advance(3_000);
    expect(terminated).toHaveLength(2);
    running.delete('web');
    running.delete('batch');
    await clock.advance(1_000);
    await waitFor('the critical group terminated', async () => (terminated.length === 3 ? true : undefined), 5_000);
    expect(terminated[2]).toMatchObject({ uid: 'dns', how: { gracePeriodSeconds: 10 }, at: clock.now() });
    running.delete('dns');
    await clock.advance(1_000);
    const done = await waitFor('the shutdown finished', async () => ((await stored())?.finishedAt ? await stored() : undefined), 5_000);
    expect(done!.groups.map((g) => [g.priority, g.gracePeriodSeconds, g.pods, g.doneAt > 0n])).toEqual([
      [0, 20n, 2, true],
      [2_000_000_000, 10n, 1, true],
    ]);
    // Asked again: the same shutdown, nothing more.
    expect((await manager.shutdown()).startedAt).toBe(state.startedAt);
    expect(events).toEqual(['Normal NodeShutdown Shutdown manager detected shutdown event']);
    expect(manager.shuttingDown()).toBe(true);
  });

  it('a group whose pods do not stop holds the next one for its grace period only', async () => {
    const { clock, terminated, manager } = setup([pod('stubborn', 0), pod('dns', 2_000_000_000)]);
    await manager.shutdown();
    await waitFor('the first group terminated', async () => (terminated.length === 1 ? true : undefined), 5_000);
    await clock.advance(19_000);
    expect(terminated).toHaveLength(1);
    await clock.advance(1_000);
    await waitFor('the critical group terminated', async () => (terminated.length === 2 ? true : undefined), 5_000);
    expect(terminated[1]!.at - terminated[0]!.at).toBe(20_000);
  });

  it('a restarted pod-sync goes on with a shutdown of this boot (the groups not done), and drops one of an earlier boot', async () => {
    await kvPut(kv, NODE_SHUTDOWN_KEY, podsyncv1.NodeShutdownStateSchema, {
      bootId: 'boot-1',
      startedAt: 1n,
      groups: [
        { priority: 0, gracePeriodSeconds: 20n, pods: 1, doneAt: 2n },
        { priority: 2_000_000_000, gracePeriodSeconds: 10n },
      ],
    });
    // web's group was done, but web still runs (its termination was lost with the process): terminated again, not waited for.
    const again = setup([pod('web', 0), pod('dns', 2_000_000_000)]);
    await again.manager.load();
    expect(again.manager.shuttingDown()).toBe(true);
    await waitFor('both groups terminated', async () => (again.terminated.length === 2 ? true : undefined), 5_000);
    expect(again.terminated.map((t) => [t.uid, t.at])).toEqual([
      ['web', again.clock.now()],
      ['dns', again.clock.now()],
    ]);
    expect(again.events).toEqual([]);

    const rebooted = setup([pod('web', 0)], { boot: 'boot-2' });
    await rebooted.manager.load();
    expect(rebooted.manager.shuttingDown()).toBe(false);
    expect(await stored()).toBeUndefined();
    await rebooted.clock.advance(30_000);
    expect(rebooted.terminated).toEqual([]);
  });

  it('a cancellation admits pods again, leaves the terminated ones and terminates no further group', async () => {
    const { clock, terminated, events, manager } = setup([pod('web', 0), pod('dns', 2_000_000_000)]);
    await manager.shutdown();
    await waitFor('the first group terminated', async () => (terminated.length === 1 ? true : undefined), 5_000);
    expect(await manager.cancel()).toBe(true);
    expect(manager.shuttingDown()).toBe(false);
    expect(await stored()).toBeUndefined();
    await clock.advance(30_000);
    expect(terminated.map((t) => t.uid)).toEqual(['web']);
    expect(events).toEqual(['Normal NodeShutdown Shutdown manager detected shutdown event', 'Normal NodeShutdown Shutdown manager detected shutdown cancellation']);
    expect(await manager.cancel()).toBe(false);
  });

  it('with no groups (a shutdown grace period of 0) there is no graceful shutdown: refused, as the kubelet\'s stub manager; nothing changes', async () => {
    const { terminated, manager } = setup([pod('web', 0)], { periods: [] });
    await expect(manager.shutdown()).rejects.toThrow(/graceful node shutdown is off on this node/);
    expect(manager.shuttingDown()).toBe(false);
    expect(await stored()).toBeUndefined();
    expect(terminated).toEqual([]);
  });

  it('a cancellation queued right behind the shutdown stops it before its next group; a shutdown asked again after it is a new one', async () => {
    const { clock, terminated, manager } = setup([pod('web', 0), pod('dns', 2_000_000_000)]);
    const [first, cancelled] = await Promise.all([manager.shutdown(), manager.cancel()]);
    expect(cancelled).toBe(true);
    expect(manager.shuttingDown()).toBe(false);
    await clock.advance(30_000);
    expect(terminated.some((t) => t.uid === 'dns')).toBe(false);
    await clock.advance(1_000);
    const second = await manager.shutdown();
    expect(second.startedAt).toBeGreaterThan(first.startedAt);
    expect((await stored())?.startedAt).toBe(second.startedAt);
  });

  it('a bucket that does not answer at start: the node counts as not shutting down, and the state is read again until it is', async () => {
    await kvPut(kv, NODE_SHUTDOWN_KEY, podsyncv1.NodeShutdownStateSchema, { bootId: 'boot-1', startedAt: 1n, groups: [{ priority: 0, gracePeriodSeconds: 20n }] });
    let answers = false;
    const bucket = async () => (answers ? kv : Promise.reject(new Error('no responders')));
    const { clock, terminated, manager: flaky } = setup([pod('web', 0)], { periods: [{ priority: 0, shutdownGracePeriodSeconds: 20 }], bucket });
    await flaky.load(1_000);
    expect(flaky.shuttingDown()).toBe(false);
    answers = true;
    await clock.advance(1_000);
    await waitFor('read again', async () => (flaky.shuttingDown() ? true : undefined), 5_000);
    await waitFor('the termination goes on', async () => (terminated.length === 1 ? true : undefined), 5_000);
  });
});
