import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it, vi } from 'vitest';
import type { V1Pod } from '@kubernetes/client-node';
import { create } from '@bufbuild/protobuf';
import { ContainerStatsSchema } from '@splitlet/contracts';
import { evictionThresholds, parseGracePeriods, parseMinimumReclaims, parseThresholds, type Threshold } from '@splitlet/eviction';
import { createLogger } from '@splitlet/telemetry';
import { FakeClock } from '@splitlet/testing';
import { EvictionManager } from './eviction-manager';
import type { Eviction } from './pod-syncer';

const Mi = 1024n * 1024n;
/** A host root whose /proc/meminfo leaves `availableMi` available of 4 GiB (MemFree, no inactive file pages). */
function hostRoot(availableMi: number): string {
  const root = mkdtempSync(join(tmpdir(), 'eviction-'));
  mkdirSync(join(root, 'proc'));
  setAvailable(root, availableMi);
  return root;
}
function setAvailable(root: string, availableMi: number): void {
  writeFileSync(join(root, 'proc/meminfo'), `MemTotal:        4194304 kB\nMemFree:         ${availableMi * 1024} kB\nMemAvailable:    ${availableMi * 1024} kB\nInactive(file):        0 kB\n`);
}
const pod = (name: string, o: { request?: string; priority?: number } = {}): V1Pod => ({
  metadata: { name, namespace: 'ns', uid: `uid-${name}` },
  spec: { ...(o.priority !== undefined ? { priority: o.priority } : {}), containers: [{ name: 'app', ...(o.request ? { resources: { requests: { memory: o.request }, limits: { memory: o.request } } } : {}) }] },
  status: { phase: 'Running', startTime: new Date() },
});
/** One container's stats: `used` is its working set, and its process count for the pid tests. */
const stats = (uid: string, used: bigint) => create(ContainerStatsSchema, { id: uid, labels: { 'io.kubernetes.pod.uid': uid, 'io.kubernetes.container.name': 'app' }, memoryWorkingSetBytes: used, processCount: used });

/** A fake image filesystem of 10 GiB: what is available, and what each reclaim frees. */
class FakeDisk {
  availableMi = 10 * 1024;
  inodesFree = 1_000_000n;
  reclaimed: string[] = [];
  constructor(
    private readonly freedByContainers = 0,
    private readonly freedByImages = 0,
  ) {}
  observe = async () => ({ availableBytes: BigInt(this.availableMi) * Mi, capacityBytes: 10_240n * Mi, inodesFree: this.inodesFree, inodes: 1_000_000n });
  reclaim = {
    deleteAllUnusedContainers: async () => void (this.reclaimed.push('containers'), (this.availableMi += this.freedByContainers)),
    deleteUnusedImages: async () => void (this.reclaimed.push('images'), (this.availableMi += this.freedByImages)),
  };
}

function manager(
  availableMi: number,
  pods: V1Pod[],
  usage: Record<string, bigint>,
  o: {
    thresholds?: Threshold[];
    maxPodGracePeriodSeconds?: number;
    disk?: FakeDisk;
    layers?: Record<string, bigint>;
    inodes?: Record<string, bigint>;
    running?: (uid: string) => boolean;
    /** Containers the runtime runs that the pod's status does not show yet, by pod UID: [id, name]. */
    unreported?: Record<string, [string, string]>;
  } = {},
) {
  const evicted: { pod: string; eviction: Eviction }[] = [];
  /** The Evicted Events' annotations, in the order of the evictions (kept apart from what the status gets). */
  const annotations: (Record<string, string> | undefined)[] = [];
  const nodeEvents: string[] = [];
  const root = hostRoot(availableMi);
  const clock = new FakeClock();
  const disk = o.disk ?? new FakeDisk();
  const m = new EvictionManager({
    thresholds: o.thresholds ?? parseThresholds('memory.available<100Mi'),
    imageFs: disk.observe,
    reclaim: disk.reclaim,
    maxPodGracePeriodSeconds: o.maxPodGracePeriodSeconds ?? 0,
    reservedMemoryBytes: 0n,
    hostRoot: root,
    volumePath: (_pod, v) => join(root, 'volumes', v.name),
    nodeEvent: (type, reason, message) => nodeEvents.push(`${type} ${reason}: ${message}`),
    runtime: {
      // The pod's running container, as its status shows it (o.running: whether a pod evicted still runs, for the wait after an eviction).
      listContainers: async (req: { filter?: { labelSelector?: Record<string, string> } }) => {
        const uid = req.filter?.labelSelector?.['io.kubernetes.pod.uid'] ?? '';
        if (o.running) return { containers: o.running(uid) ? [{ id: 'c', metadata: { name: 'app' }, labels: {} }] : [] };
        const p = pods.find((x) => x.metadata?.uid === uid);
        const running = (p?.status?.containerStatuses ?? []).filter((c) => c.state?.running && c.containerID);
        const extra = o.unreported?.[uid];
        return { containers: [...running.map((c) => ({ id: c.containerID!.replace('docker://', ''), metadata: { name: c.name }, labels: {} })), ...(extra ? [{ id: extra[0], metadata: { name: extra[1] }, labels: {} }] : [])] };
      },
      listContainerStats: async (req: { containerId?: string }) =>
        req.containerId
          ? { stats: [create(ContainerStatsSchema, { id: req.containerId, writableLayerUsedBytes: o.layers?.[req.containerId] ?? 0n, logUsedBytes: 1024n, inodesUsed: o.inodes?.[req.containerId] ?? 0n })] }
          : { stats: Object.entries(usage).map(([uid, used]) => stats(uid, used)) },
    } as never,
    pods: () => pods,
    active: () => true,
    evict: (p, { annotations: a, ...eviction }) => {
      evicted.push({ pod: p.metadata!.name!, eviction });
      annotations.push(a);
    },
    clock,
    logger: createLogger('pod-sync', { level: 'silent' }),
    intervalMs: 10_000,
  });
  return { m, evicted, annotations, nodeEvents, clock, root, setAvailable: (mi: number) => setAvailable(root, mi) };
}

describe('EvictionManager (memory.available)', () => {
  it('EvictionManager - below the threshold: one pod per look, the one over its request first, with the kubelet\'s message and 1 s of grace; a critical pod never', async () => {
    const pods = [pod('guaranteed', { request: '64Mi' }), pod('hog'), pod('critical', { priority: 2_000_000_000 })];
    const { m, evicted, annotations } = manager(80, pods, { 'uid-guaranteed': 32n * Mi, 'uid-hog': 150n * Mi, 'uid-critical': 900n * Mi });
    await m.synchronize();
    expect(evicted).toEqual([
      { pod: 'hog', eviction: { gracePeriodSeconds: 1, message: 'The node was low on resource: memory. Threshold quantity: 100Mi, available: 80Mi. Container app was using 150Mi, request is 0, has larger consumption of memory. ' } },
    ]);
    await m.synchronize();
    expect(evicted.map((e) => e.pod)).toEqual(['hog', 'guaranteed']);
    // The Evicted Events' annotations: the container over its request (none for the Guaranteed pod).
    expect(annotations).toEqual([
      { offending_containers: 'app', offending_containers_usage: '150Mi', starved_resource: 'memory' },
      { offending_containers: '', offending_containers_usage: '', starved_resource: 'memory' },
    ]);
    expect(evicted[1]!.eviction.message).toBe('The node was low on resource: memory. Threshold quantity: 100Mi, available: 80Mi. ');
    // Only the critical pod is left: it is not evicted.
    expect(await m.synchronize()).toBeUndefined();
    expect(evicted).toHaveLength(2);
  });

  it('EvictionManager - above the threshold nothing is evicted; terminating and finished pods are not candidates', async () => {
    const { m, evicted } = manager(500, [pod('hog')], { 'uid-hog': 150n * Mi });
    expect(await m.synchronize()).toBeUndefined();
    const done = { ...pod('done'), status: { phase: 'Failed' } };
    const going = { ...pod('going'), metadata: { ...pod('going').metadata, deletionTimestamp: new Date() } };
    const low = manager(80, [done, going], { 'uid-done': 150n * Mi, 'uid-going': 150n * Mi });
    expect(await low.m.synchronize()).toBeUndefined();
    expect([...evicted, ...low.evicted]).toEqual([]);
  });

  describe('soft thresholds (--eviction-soft)', () => {
    const soft = (grace: string, minReclaim = '') =>
      evictionThresholds({
        hard: parseThresholds('memory.available<100Mi'),
        soft: parseThresholds('memory.available<500Mi'),
        softGracePeriods: parseGracePeriods(`memory.available=${grace}`),
        minimumReclaims: parseMinimumReclaims(minReclaim),
      });
    const withGrace = (name: string, seconds: number): V1Pod => {
      const p = pod(name);
      p.spec!.terminationGracePeriodSeconds = seconds;
      return p;
    };

    it('EvictionManager - a soft threshold evicts only once met for its whole grace period, with the pod\'s grace up to --eviction-max-pod-grace-period', async () => {
      const { m, evicted, nodeEvents, clock } = manager(400, [withGrace('short', 5), withGrace('long', 60)], { 'uid-short': 300n * Mi, 'uid-long': 200n * Mi }, { thresholds: soft('30s'), maxPodGracePeriodSeconds: 20 });
      await m.synchronize();
      await clock.advance(29_000);
      expect(await m.synchronize()).toBeUndefined();
      // Met, not yet for its grace period: no attempt to reclaim.
      expect(nodeEvents).toEqual([]);
      await clock.advance(1_000);
      await m.synchronize();
      // The grace period: the pod's 5 s (below the 20 s maximum), then the maximum for the pod that asks 60 s.
      expect(evicted.map((e) => [e.pod, e.eviction.gracePeriodSeconds])).toEqual([['short', 5]]);
      expect(nodeEvents).toEqual(['Warning EvictionThresholdMet: Attempting to reclaim memory']);
      expect(evicted[0]!.eviction.message).toBe('The node was low on resource: memory. Threshold quantity: 500Mi, available: 400Mi. Container app was using 300Mi, request is 0, has larger consumption of memory. ');
      await m.synchronize();
      expect(evicted.map((e) => [e.pod, e.eviction.gracePeriodSeconds])).toEqual([['short', 5], ['long', 20]]);
    });

    it('EvictionManager - a soft threshold no longer met starts its grace period over', async () => {
      const { m, evicted, clock, setAvailable } = manager(400, [pod('hog')], { 'uid-hog': 300n * Mi }, { thresholds: soft('30s') });
      await m.synchronize();
      await clock.advance(20_000);
      setAvailable(600);
      await m.synchronize();
      setAvailable(400);
      await clock.advance(20_000);
      expect(await m.synchronize()).toBeUndefined();
      await clock.advance(29_000);
      expect(await m.synchronize()).toBeUndefined();
      await clock.advance(1_000);
      expect((await m.synchronize())?.metadata?.name).toBe('hog');
      expect(evicted).toHaveLength(1);
    });

    it('EvictionManager - the hard threshold acts at once, with 1 s of grace, while the soft one waits', async () => {
      const { m, evicted } = manager(80, [withGrace('hog', 30)], { 'uid-hog': 300n * Mi }, { thresholds: soft('1m'), maxPodGracePeriodSeconds: 20 });
      await m.synchronize();
      expect(evicted.map((e) => [e.pod, e.eviction.gracePeriodSeconds])).toEqual([['hog', 1]]);
      expect(evicted[0]!.eviction.message).toContain('Threshold quantity: 100Mi, available: 80Mi.');
    });

    it('EvictionManager - once acted on, a threshold holds until its minimum reclaim is available too', async () => {
      const { m, evicted, clock, setAvailable } = manager(400, [pod('a'), pod('b'), pod('c')], { 'uid-a': 300n * Mi, 'uid-b': 200n * Mi, 'uid-c': 100n * Mi }, { thresholds: soft('0s', 'memory.available=200Mi') });
      await m.synchronize();
      expect(evicted.map((e) => e.pod)).toEqual(['a']);
      // Above the threshold (500Mi) but below threshold + minimum reclaim (700Mi): still met.
      setAvailable(600);
      await clock.advance(10_000);
      await m.synchronize();
      expect(evicted.map((e) => e.pod)).toEqual(['a', 'b']);
      setAvailable(700);
      await clock.advance(10_000);
      expect(await m.synchronize()).toBeUndefined();
      // Resolved: 600Mi again is above the plain threshold, which is all that counts now.
      setAvailable(600);
      await clock.advance(10_000);
      expect(await m.synchronize()).toBeUndefined();
      expect(evicted.map((e) => e.pod)).toEqual(['a', 'b']);
    });
  });
});

/** A running pod whose one container `app` has the container ID `c-<name>` (its writable layer is measured by that ID). */
const diskPod = (name: string, o: { request?: string; priority?: number } = {}): V1Pod => ({
  metadata: { name, namespace: 'ns', uid: `uid-${name}` },
  spec: { ...(o.priority !== undefined ? { priority: o.priority } : {}), containers: [{ name: 'app', ...(o.request ? { resources: { requests: { 'ephemeral-storage': o.request } } } : {}) }] },
  status: { phase: 'Running', startTime: new Date(), containerStatuses: [{ name: 'app', image: 'x', imageID: '', ready: true, restartCount: 0, containerID: `docker://c-${name}`, state: { running: {} } }] },
});

describe('EvictionManager (disk: nodefs.available, imagefs.available, inodesFree)', () => {
  const diskThresholds = () => parseThresholds('imagefs.available<1Gi,nodefs.inodesFree<5%');

  it('EvictionManager - below a disk threshold, dead containers then unused images are reclaimed first; enough freed (minimum reclaim included): no pod evicted', async () => {
    const disk = new FakeDisk(100, 1024);
    disk.availableMi = 900;
    const thresholds = evictionThresholds({ hard: parseThresholds('imagefs.available<1Gi'), soft: [], softGracePeriods: new Map(), minimumReclaims: parseMinimumReclaims('imagefs.available=500Mi') });
    const { m, evicted, nodeEvents } = manager(4000, [diskPod('writer')], {}, { thresholds, disk, layers: { 'c-writer': 300n * Mi } });
    expect(await m.synchronize()).toBeUndefined();
    expect(disk.reclaimed).toEqual(['containers', 'images']);
    expect(nodeEvents).toEqual(['Warning EvictionThresholdMet: Attempting to reclaim ephemeral-storage']);
    expect(evicted).toEqual([]);
  });

  it('EvictionManager - reclaim not enough (short of the minimum reclaim): the pod using the most disk over its request is evicted with the kubelet\'s ephemeral-storage message', async () => {
    // 900 Mi + 100 Mi + 100 Mi = 1100 Mi: above 1 Gi, but not above 1 Gi + 500 Mi.
    const disk = new FakeDisk(100, 100);
    disk.availableMi = 900;
    const thresholds = evictionThresholds({ hard: parseThresholds('imagefs.available<1Gi'), soft: [], softGracePeriods: new Map(), minimumReclaims: parseMinimumReclaims('imagefs.available=500Mi') });
    const pods = [diskPod('requested', { request: '1Gi' }), diskPod('writer'), diskPod('quiet'), diskPod('critical', { priority: 2_000_000_000 })];
    const layers = { 'c-requested': 600n * Mi, 'c-writer': 300n * Mi, 'c-quiet': 0n, 'c-critical': 5000n * Mi };
    const { m, evicted } = manager(4000, pods, {}, { thresholds, disk, layers });
    await m.synchronize();
    expect(evicted).toEqual([
      {
        pod: 'writer',
        eviction: { gracePeriodSeconds: 1, message: 'The node was low on resource: ephemeral-storage. Threshold quantity: 1Gi, available: 900Mi. Container app was using 307201Ki, request is 0, has larger consumption of ephemeral-storage. ' },
      },
    ]);
  });

  it('EvictionManager - a percentage threshold prints as its bytes of the capacity (the kubelet\'s float32 percentage: 10 % of 10 Gi is 1073741840); the pod over its request goes before a bigger one within it', async () => {
    const disk = new FakeDisk();
    disk.availableMi = 512;
    const pods = [diskPod('big', { request: '2Gi' }), diskPod('small')];
    const { m, evicted } = manager(4000, pods, {}, { thresholds: parseThresholds('nodefs.available<10%'), disk, layers: { 'c-big': 1500n * Mi, 'c-small': 10n * Mi } });
    await m.synchronize();
    expect(evicted.map((e) => e.pod)).toEqual(['small']);
    expect(evicted[0]!.eviction.message).toBe('The node was low on resource: ephemeral-storage. Threshold quantity: 1073741840, available: 512Mi. Container app was using 10241Ki, request is 0, has larger consumption of ephemeral-storage. ');
  });

  it('EvictionManager - inodes low: reclaimed first, then the pod using the most inodes (its layer and log, as runtime-executor counts them) is evicted, with the kubelet\'s inodes message', async () => {
    const disk = new FakeDisk();
    disk.inodesFree = 10_000n;
    const { m, evicted, nodeEvents } = manager(4000, [diskPod('writer'), diskPod('quiet')], {}, { thresholds: diskThresholds(), disk, inodes: { 'c-writer': 30_000n, 'c-quiet': 3n } });
    await m.synchronize();
    expect(disk.reclaimed).toEqual(['containers', 'images']);
    expect(nodeEvents).toEqual(['Warning EvictionThresholdMet: Attempting to reclaim inodes']);
    expect(evicted).toEqual([{ pod: 'writer', eviction: { gracePeriodSeconds: 1, message: 'The node was low on resource: inodes. Threshold quantity: 50000, available: 10k. ' } }]);
  });

  it('EvictionManager - a container just started, which the pod\'s status does not show yet, is measured all the same (the runtime\'s containers, by the pod\'s label): its pod goes first, not the quiet one', async () => {
    const disk = new FakeDisk();
    disk.inodesFree = 10_000n;
    const fresh: V1Pod = { ...diskPod('writer'), status: { phase: 'Pending' } };
    const { m, evicted } = manager(4000, [fresh, diskPod('quiet')], {}, { thresholds: diskThresholds(), disk, inodes: { 'c-writer': 30_000n, 'c-quiet': 3n }, unreported: { 'uid-writer': ['c-writer', 'app'] } });
    await m.synchronize();
    expect(evicted.map((e) => e.pod)).toEqual(['writer']);
  });

  it('EvictionManager - memory and disk both low: memory is reclaimed first (byEvictionPriority), no disk reclaim this look', async () => {
    const disk = new FakeDisk();
    disk.availableMi = 100;
    const { m, evicted, nodeEvents } = manager(80, [pod('hog')], { 'uid-hog': 150n * Mi }, { thresholds: parseThresholds('imagefs.available<1Gi,memory.available<100Mi'), disk });
    await m.synchronize();
    expect(nodeEvents).toEqual(['Warning EvictionThresholdMet: Attempting to reclaim memory']);
    expect(disk.reclaimed).toEqual([]);
    expect(evicted.map((e) => e.pod)).toEqual(['hog']);
  });
});

describe('EvictionManager (pid.available)', () => {
  /** pid_max 32768 and `threads` running, as /proc/loadavg counts them. */
  const setPids = (root: string, threads: number) => {
    mkdirSync(join(root, 'proc/sys/kernel'), { recursive: true });
    writeFileSync(join(root, 'proc/sys/kernel/pid_max'), '32768\n');
    writeFileSync(join(root, 'proc/loadavg'), `0.50 0.40 0.30 2/${threads} 12345\n`);
  };

  it('EvictionManager - below pid.available: no reclaim, the lower priority first, then the pod with the most processes; the kubelet\'s pids message, without container lines', async () => {
    const disk = new FakeDisk();
    const pods = [pod('forker'), pod('quiet'), pod('important', { priority: 1000 })];
    const { m, evicted, nodeEvents, root } = manager(4000, pods, { 'uid-forker': 3000n, 'uid-quiet': 1n, 'uid-important': 5000n }, { thresholds: parseThresholds('pid.available<2k'), disk });
    setPids(root, 31_000);
    await m.synchronize();
    expect(nodeEvents).toEqual(['Warning EvictionThresholdMet: Attempting to reclaim pids']);
    expect(disk.reclaimed).toEqual([]);
    expect(evicted).toEqual([{ pod: 'forker', eviction: { gracePeriodSeconds: 1, message: 'The node was low on resource: pids. Threshold quantity: 2k, available: 1768. ' } }]);
  });

  it('EvictionManager - above pid.available nothing happens', async () => {
    const { m, evicted, nodeEvents, root } = manager(4000, [pod('forker')], { 'uid-forker': 3000n }, { thresholds: parseThresholds('pid.available<2k') });
    setPids(root, 1_000);
    expect(await m.synchronize()).toBeUndefined();
    expect([evicted, nodeEvents]).toEqual([[], []]);
  });
});

describe('EvictionManager (run: waitForPodsCleanup)', () => {
  it('EvictionManager - after an eviction the next look waits until the evicted pod runs no container, then comes at once', async () => {
    let hogRuns = true;
    const pods = [pod('hog'), pod('other')];
    const { m, evicted, clock } = manager(80, pods, { 'uid-hog': 150n * Mi, 'uid-other': 50n * Mi }, { running: (uid) => uid === 'uid-hog' && hogRuns });
    const ac = new AbortController();
    const done = m.run(ac.signal);
    await clock.advance(0);
    await vi.waitFor(() => expect(evicted.map((e) => e.pod)).toEqual(['hog']));
    // Two monitoring periods pass while hog still runs: no look, no second eviction.
    await clock.advance(20_000);
    expect(evicted.map((e) => e.pod)).toEqual(['hog']);
    hogRuns = false;
    await clock.advance(1_000);
    await vi.waitFor(() => expect(evicted.map((e) => e.pod)).toEqual(['hog', 'other']));
    ac.abort();
    await clock.advance(60_000);
    await done;
  });
});
