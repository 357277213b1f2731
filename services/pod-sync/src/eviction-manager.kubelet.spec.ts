import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { V1Container, V1Pod } from '@kubernetes/client-node';
import { create } from '@bufbuild/protobuf';
import { ContainerStatsSchema, type ContainerStats } from '@splitlet/contracts';
import { evictionThresholds, parseGracePeriods, parseMinimumReclaims, parseThresholds, SYSTEM_CRITICAL_PRIORITY, type Threshold } from '@splitlet/eviction';
import { parseQuantity } from '@splitlet/quantity';
import { createLogger } from '@splitlet/telemetry';
import { FakeClock } from '@splitlet/testing';
import { EvictionManager, type EvictionDeps } from './eviction-manager';
import type { Eviction } from './pod-syncer';

// A port of the main scenarios of the kubelet's eviction manager tests
// (k8s.io/kubernetes v1.36.3 pkg/kubelet/eviction/eviction_manager_test.go) to splitlet's
// EvictionManager. Each Go test's pods, stats and thresholds are kept; the kubelet's
// managerImpl.synchronize is EvictionManager.synchronize, its fakeClock.Step a FakeClock
// advance, its summary provider a host root (/proc/meminfo, pid_max, /proc/loadavg), the
// runtime's container stats and a fake image filesystem, its mockDiskGC the NodeReclaim.
//
// What a user sees is asserted: the pod evicted, its message and grace period, the
// node's EvictionThresholdMet events, and whether dead containers and unused images were
// reclaimed. Not here: the node conditions and their transition period
// (IsUnderMemoryPressure...: registrar's), and Admit (admitUnderPressure, in
// libs/eviction's ranking.spec.ts).
//
// The Go tests' mockPodKiller only records the pod it is handed: the pod stays active and
// the next synchronize may choose it again. Splitlet does not choose a pod it evicted
// until it is forgotten (gone from the API server), so the harness forgets each evicted
// pod at once, as the mock keeps it.
//
// Memory messages: newPodMemoryStats (helpers_test.go:3240) gives the pod's one container
// stat no memory figure, so the Go tests' messages name no container. The container
// runtime's stats always carry each container's working set, as the kubelet's real stats
// do, so the messages here name the containers over their requests, as the kubelet's
// evictionMessage does (helpers.go:1273-1297).
//
// Not applicable:
// - the dedicated image filesystem and split container filesystem variants
//   (KubeletSeparateDiskGC, containerfs.available): Docker's data root is the one
//   filesystem here, nodefs and imagefs are one observation;
// - TestAllocatableMemoryPressure: no allocatableMemory.available signal;
// - TestDiskPressureNodeFs_VerifyPodStatus "image fs" case: its pod is over its own
//   ephemeral-storage limit, which the Go test ignores only because its managerImpl runs
//   with localStorageCapacityIsolation off; splitlet always enforces the limits (the
//   kubelet's default) before the thresholds.

const lowPriority = -1;
const defaultPriority = 0;
const highPriority = 1;

/** A quantity in whole units, rounded up as resource.Quantity.Value() does ("" is 0). */
const value = (q: string): bigint => (parseQuantity(q || '0') + 999n) / 1000n;

type ResourceList = Record<string, string>;
/** newResourceList(cpu, memory, disk). */
const newResourceList = (cpu = '', memory = '', disk = ''): ResourceList => ({
  ...(cpu ? { cpu } : {}),
  ...(memory ? { memory } : {}),
  ...(disk ? { 'ephemeral-storage': disk } : {}),
});
const newContainer = (name: string, requests: ResourceList = {}, limits: ResourceList = {}): V1Container => ({ name, resources: { requests, limits } });

const LABEL_UID = 'io.kubernetes.pod.uid';
const LABEL_CONTAINER = 'io.kubernetes.container.name';

/**
 * newPod with one container of the pod's name (the name is the UID), running: its
 * container ID is `docker://<name>` (the disk stats are looked up by it).
 */
function newPod(name: string, priority: number | undefined, requests: ResourceList = {}, limits: ResourceList = {}): V1Pod {
  return {
    metadata: { name, uid: name },
    spec: { containers: [newContainer(name, requests, limits)], ...(priority !== undefined ? { priority } : {}) },
    status: {
      phase: 'Running',
      containerStatuses: [{ name, image: 'img', imageID: '', ready: true, restartCount: 0, containerID: `docker://${name}`, state: { running: {} } }],
    },
  };
}

interface PodToMake {
  name: string;
  priority?: number;
  requests?: ResourceList;
  limits?: ResourceList;
  memoryWorkingSet?: string;
  pidUsage?: number;
  rootFsUsed?: string;
  logsFsUsed?: string;
  rootFsInodesUsed?: string;
}

/**
 * The node the manager looks at: a host root with /proc/meminfo (8Gi, memory.available
 * what is free: no inactive file pages), pid_max and /proc/loadavg; the runtime's
 * container stats; the image filesystem and what its reclaim frees.
 */
class FakeNode {
  readonly root = mkdtempSync(join(tmpdir(), 'eviction-kubelet-'));
  /** Per pod (its container has the pod's name): working set and process count. */
  readonly containerStats = new Map<string, ContainerStats>();
  /** Per container ID: writable layer and log bytes. */
  readonly containerDisk = new Map<string, { rootfs: bigint; logs: bigint; inodes: bigint }>();
  fs = { available: value('16Gi'), capacity: value('32Gi'), inodesFree: value('3Mi'), inodes: value('4Mi') };
  /** What the filesystem is after a reclaim (mockDiskGC.summaryAfterGC); undefined: the reclaim frees nothing. */
  afterReclaim: Partial<FakeNode['fs']> | undefined;
  reclaimed: string[] = [];

  constructor() {
    mkdirSync(join(this.root, 'proc/sys/kernel'), { recursive: true });
    this.memoryAvailable('8Gi');
    this.pids('32768', '0');
  }

  /** makeMemoryStats(nodeAvailableBytes). */
  memoryAvailable(q: string): void {
    const kB = value(q) / 1024n;
    writeFileSync(join(this.root, 'proc/meminfo'), `MemTotal:        8388608 kB\nMemFree:         ${kB} kB\nMemAvailable:    ${kB} kB\nInactive(file):        0 kB\n`);
  }

  /** makePIDStats(maxPID, numberOfRunningProcesses). */
  pids(maxPid: string, running: string): void {
    writeFileSync(join(this.root, 'proc/sys/kernel/pid_max'), `${value(maxPid)}\n`);
    writeFileSync(join(this.root, 'proc/loadavg'), `0.50 0.40 0.30 2/${value(running)} 12345\n`);
  }

  add(p: PodToMake): V1Pod {
    const pod = newPod(p.name, p.priority, p.requests, p.limits);
    this.containerStats.set(
      p.name,
      create(ContainerStatsSchema, {
        id: p.name,
        labels: { [LABEL_UID]: p.name, [LABEL_CONTAINER]: p.name },
        memoryWorkingSetBytes: value(p.memoryWorkingSet ?? ''),
        processCount: BigInt(p.pidUsage ?? 0),
      }),
    );
    this.containerDisk.set(p.name, { rootfs: value(p.rootFsUsed ?? ''), logs: value(p.logsFsUsed ?? ''), inodes: value(p.rootFsInodesUsed ?? '') });
    return pod;
  }

  private afterGC(): void {
    if (this.afterReclaim) this.fs = { ...this.fs, ...this.afterReclaim };
  }

  readonly reclaim = {
    deleteAllUnusedContainers: async () => {
      this.reclaimed.push('containers');
      this.afterGC();
    },
    deleteUnusedImages: async () => {
      this.reclaimed.push('images');
      this.afterGC();
    },
  };

  readonly runtime = {
    // A pod's running container, by its label (each pod has one, named and identified as the pod).
    listContainers: async (req: { filter?: { labelSelector?: Record<string, string> } }) => {
      const uid = req.filter?.labelSelector?.['io.kubernetes.pod.uid'] ?? '';
      return { containers: this.containerDisk.has(uid) ? [{ id: uid, metadata: { name: uid }, labels: {} }] : [] };
    },
    listContainerStats: async (req: { containerId?: string }) => {
      if (!req.containerId) return { stats: [...this.containerStats.values()] };
      const disk = this.containerDisk.get(req.containerId);
      return { stats: disk ? [create(ContainerStatsSchema, { id: req.containerId, writableLayerUsedBytes: disk.rootfs, logUsedBytes: disk.logs, inodesUsed: disk.inodes })] : [] };
    },
  };
}

function harness(thresholds: Threshold[], podsToMake: PodToMake[], maxPodGracePeriodSeconds = 0) {
  const node = new FakeNode();
  const pods = podsToMake.map((p) => node.add(p));
  const clock = new FakeClock();
  const evicted: { pod: string; eviction: Eviction }[] = [];
  const nodeEvents: string[] = [];
  const deps: EvictionDeps = {
    thresholds,
    imageFs: async () => ({ availableBytes: node.fs.available, capacityBytes: node.fs.capacity, inodesFree: node.fs.inodesFree, inodes: node.fs.inodes }),
    reclaim: node.reclaim,
    maxPodGracePeriodSeconds,
    reservedMemoryBytes: 0n,
    hostRoot: node.root,
    volumePath: (_pod, v) => join(node.root, 'volumes', v.name),
    nodeEvent: (type, reason, message) => nodeEvents.push(`${type} ${reason}: ${message}`),
    runtime: node.runtime as never,
    pods: () => pods,
    active: () => true,
    // The Event's annotations are evictionMessage's second result (ranking.spec.ts ports its table).
    evict: (p, { annotations: _annotations, ...eviction }) => {
      evicted.push({ pod: p.metadata!.name!, eviction });
      // The mock pod killer: the pod stays active, and may be chosen again.
      m.forget(p.metadata!.uid!);
    },
    clock,
    logger: createLogger('pod-sync', { level: 'silent' }),
    intervalMs: 10_000,
  };
  const m: EvictionManager = new EvictionManager(deps);
  /**
   * makeMemoryStats' pods container (allocatableMemory.available): its available is
   * the pods' limit (MemTotal less the reserved memory) less their working set, so the
   * reservation is set to make it the given amount for the working set now. The node's
   * own memory.available is what the pods leave of MemTotal (the pods' working set is
   * part of the node's, as on a real node), unless given.
   */
  const allocatableAvailable = (q: string, nodeAvailable?: string) => {
    const ws = [...node.containerStats.values()].reduce((sum, st) => sum + st.memoryWorkingSetBytes, 0n);
    const total = 8_388_608n * 1024n;
    deps.reservedMemoryBytes = total - ws - value(q);
    node.memoryAvailable(nodeAvailable ?? `${(total - ws) / 1024n}Ki`);
  };
  /** One synchronize: what it evicted, the events it recorded, and the reclaims it ran (each reset, as the Go tests reset the mocks). */
  const synchronize = async () => {
    await m.synchronize();
    return { evicted: evicted.splice(0), events: nodeEvents.splice(0), reclaimed: node.reclaimed.splice(0) };
  };
  const step = (ms: number) => clock.advance(ms);
  return { node, pods, synchronize, step, allocatableAvailable };
}

const MINUTE = 60_000;
const nothing = { evicted: [], events: [], reclaimed: [] };
const thresholdMet = (resource: string) => `Warning EvictionThresholdMet: Attempting to reclaim ${resource}`;

/** Hard and soft thresholds of one signal (the Go tests' config), each with its minimum reclaim if given. */
function thresholds(signal: string, hard: string, soft?: { value: string; grace: string }, minReclaim?: string): Threshold[] {
  return evictionThresholds({
    hard: parseThresholds(`${signal}<${hard}`),
    soft: soft ? parseThresholds(`${signal}<${soft.value}`) : [],
    softGracePeriods: soft ? parseGracePeriods(`${signal}=${soft.grace}`) : new Map(),
    minimumReclaims: minReclaim ? parseMinimumReclaims(`${signal}=${minReclaim}`) : new Map(),
  });
}

/** The pods of TestMemoryPressure, TestMinReclaim. */
const memoryPods: PodToMake[] = [
  { name: 'guaranteed-low-priority-high-usage', priority: lowPriority, requests: newResourceList('100m', '1Gi', ''), limits: newResourceList('100m', '1Gi', ''), memoryWorkingSet: '900Mi' },
  { name: 'burstable-below-requests', priority: defaultPriority, requests: newResourceList('100m', '100Mi', ''), limits: newResourceList('200m', '1Gi', ''), memoryWorkingSet: '50Mi' },
  { name: 'burstable-above-requests', priority: defaultPriority, requests: newResourceList('100m', '100Mi', ''), limits: newResourceList('200m', '1Gi', ''), memoryWorkingSet: '400Mi' },
  { name: 'best-effort-high-priority-high-usage', priority: highPriority, requests: newResourceList('', '', ''), limits: newResourceList('', '', ''), memoryWorkingSet: '400Mi' },
  { name: 'best-effort-low-priority-low-usage', priority: lowPriority, requests: newResourceList('', '', ''), limits: newResourceList('', '', ''), memoryWorkingSet: '100Mi' },
];

/** The pods of TestDiskPressureNodeFs, TestNodeReclaimFuncs (requests of cpu and memory only: no ephemeral-storage request). */
const diskPods: PodToMake[] = [
  { name: 'low-priority-high-usage', priority: lowPriority, requests: newResourceList('100m', '1Gi', ''), limits: newResourceList('100m', '1Gi', ''), rootFsUsed: '900Mi' },
  { name: 'below-requests', priority: defaultPriority, requests: newResourceList('100m', '100Mi', ''), limits: newResourceList('200m', '1Gi', ''), logsFsUsed: '50Mi' },
  { name: 'above-requests', priority: defaultPriority, requests: newResourceList('100m', '100Mi', ''), limits: newResourceList('200m', '1Gi', ''), rootFsUsed: '400Mi' },
  // Its perLocalVolumeUsed (400Mi) counts for nothing: the Go test's pods have no volumes.
  { name: 'high-priority-high-usage', priority: highPriority, requests: newResourceList('', '', ''), limits: newResourceList('', '', '') },
  { name: 'low-priority-low-usage', priority: lowPriority, requests: newResourceList('', '', ''), limits: newResourceList('', '', ''), rootFsUsed: '100Mi' },
];

describe('EvictionManager - memory.available (eviction_manager_test.go)', () => {
  it('EvictionManager - TestMemoryPressure: a soft threshold evicts after its grace period with the max pod grace period; a hard one at once with 1 s; nothing once pressure is gone', async () => {
    const memory = thresholds('memory.available', '1Gi', { value: '2Gi', grace: '2m' });
    const { node, synchronize, step } = harness(memory, memoryPods, 5);
    const podToEvict = 'best-effort-low-priority-low-usage';

    // 2Gi available: no pressure.
    node.memoryAvailable('2Gi');
    expect(await synchronize()).toEqual(nothing);

    // induce soft threshold: met, not yet for its grace period.
    await step(1 * MINUTE);
    node.memoryAvailable('1500Mi');
    expect(await synchronize()).toEqual(nothing);

    // step forward in time pass the grace period: the right pod, with MaxPodGracePeriodSeconds.
    await step(3 * MINUTE);
    expect(await synchronize()).toEqual({
      evicted: [
        {
          pod: podToEvict,
          eviction: { gracePeriodSeconds: 5, message: 'The node was low on resource: memory. Threshold quantity: 2Gi, available: 1500Mi. Container best-effort-low-priority-low-usage was using 100Mi, request is 0, has larger consumption of memory. ' },
        },
      ],
      events: [thresholdMet('memory')],
      reclaimed: [],
    });

    // remove memory pressure
    await step(20 * MINUTE);
    node.memoryAvailable('3Gi');
    expect(await synchronize()).toEqual(nothing);

    // induce memory pressure! The hard threshold: the same pod, with 1 s.
    await step(1 * MINUTE);
    node.memoryAvailable('500Mi');
    expect(await synchronize()).toEqual({
      evicted: [
        {
          pod: podToEvict,
          eviction: { gracePeriodSeconds: 1, message: 'The node was low on resource: memory. Threshold quantity: 1Gi, available: 500Mi. Container best-effort-low-priority-low-usage was using 100Mi, request is 0, has larger consumption of memory. ' },
        },
      ],
      events: [thresholdMet('memory')],
      reclaimed: [],
    });

    // reduce memory pressure: no pod killed.
    await step(1 * MINUTE);
    node.memoryAvailable('2Gi');
    expect(await synchronize()).toEqual(nothing);

    // move the clock past transition period: no pod killed.
    await step(5 * MINUTE);
    expect(await synchronize()).toEqual(nothing);
  });

  it('EvictionManager - TestMemoryPressure_VerifyPodStatus: the pod above its requests is evicted with the threshold and what was available', async () => {
    const { node, synchronize } = harness(parseThresholds('memory.available<2Gi'), [
      { name: 'below-requests', requests: newResourceList('', '1Gi', ''), limits: newResourceList('', '1Gi', ''), memoryWorkingSet: '900Mi' },
      { name: 'above-requests', requests: newResourceList('', '100Mi', ''), limits: newResourceList('', '1Gi', ''), memoryWorkingSet: '700Mi' },
    ]);
    node.memoryAvailable('1500Mi');
    const { evicted, events } = await synchronize();
    // The Go test's message ends after "available: 1500Mi. " only because its fixture's container stat has no memory figure.
    expect(evicted).toEqual([
      {
        pod: 'above-requests',
        eviction: { gracePeriodSeconds: 1, message: 'The node was low on resource: memory. Threshold quantity: 2Gi, available: 1500Mi. Container above-requests was using 700Mi, request is 100Mi, has larger consumption of memory. ' },
      },
    ]);
    expect(events).toEqual([thresholdMet('memory')]);
  });

  it('EvictionManager - TestMinReclaim: once acted on, the threshold holds until its minimum reclaim is available too', async () => {
    const { node, synchronize, step } = harness(thresholds('memory.available', '1Gi', undefined, '500Mi'), memoryPods, 5);
    const podToEvict = 'best-effort-low-priority-low-usage';

    node.memoryAvailable('2Gi');
    expect(await synchronize()).toEqual(nothing);

    // induce memory pressure!
    await step(1 * MINUTE);
    node.memoryAvailable('500Mi');
    let look = await synchronize();
    expect(look.evicted.map((e) => [e.pod, e.eviction.gracePeriodSeconds])).toEqual([[podToEvict, 1]]);
    expect(look.events).toEqual([thresholdMet('memory')]);

    // reduce memory pressure, but not below the min-reclaim amount (1.2Gi < 1Gi + 500Mi): the right pod again.
    await step(1 * MINUTE);
    node.memoryAvailable('1.2Gi');
    look = await synchronize();
    expect(look.evicted.map((e) => [e.pod, e.eviction.gracePeriodSeconds])).toEqual([[podToEvict, 1]]);
    expect(look.events).toEqual([thresholdMet('memory')]);

    // reduce memory pressure and ensure the min-reclaim amount: no pod killed.
    await step(1 * MINUTE);
    node.memoryAvailable('2Gi');
    expect(await synchronize()).toEqual(nothing);

    await step(5 * MINUTE);
    expect(await synchronize()).toEqual(nothing);
  });

  it('EvictionManager - TestStaticCriticalPodsAreNotEvicted: a static pod of system-critical priority is never evicted, nor once its priority is unset', async () => {
    const memory = thresholds('memory.available', '1Gi', { value: '2Gi', grace: '2m' });
    const { node, pods, synchronize, step } = harness(
      memory,
      [{ name: 'critical', priority: SYSTEM_CRITICAL_PRIORITY, requests: newResourceList('100m', '1Gi', ''), limits: newResourceList('100m', '1Gi', ''), memoryWorkingSet: '800Mi' }],
      5,
    );
    const critical = pods[0]!;
    critical.metadata!.annotations = { 'kubernetes.io/config.source': 'file' };
    critical.metadata!.namespace = 'kube-system';

    node.memoryAvailable('2Gi');
    await step(1 * MINUTE);
    node.memoryAvailable('1500Mi');
    expect(await synchronize()).toEqual(nothing);

    // step forward in time pass the grace period: the manager tries to reclaim, but does not kill the critical pod.
    await step(3 * MINUTE);
    expect(await synchronize()).toEqual({ evicted: [], events: [thresholdMet('memory')], reclaimed: [] });

    // remove memory pressure
    await step(20 * MINUTE);
    node.memoryAvailable('3Gi');
    expect(await synchronize()).toEqual(nothing);

    // Still a static (file) pod without its priority: still critical.
    delete critical.spec!.priority;
    await step(1 * MINUTE);
    node.memoryAvailable('500Mi');
    expect(await synchronize()).toEqual({ evicted: [], events: [thresholdMet('memory')], reclaimed: [] });
  });
});

describe('EvictionManager - allocatableMemory.available (eviction_manager_test.go)', () => {
  it('EvictionManager - TestAllocatableMemoryPressure: the pods\' memory below the allocatable threshold evicts the lowest-priority best-effort pod at once (1 s); nothing once it is back', async () => {
    // Thresholds: allocatableMemory.available<1Gi (as the Go test's config, set directly).
    const { node, synchronize, step, allocatableAvailable } = harness(parseThresholds('allocatableMemory.available<1Gi'), memoryPods, 5);
    const podToEvict = 'best-effort-low-priority-low-usage';
    // The node itself has plenty all along (what the pods leave of 8Gi): only the pods' limit matters.
    allocatableAvailable('4Gi');
    expect(await synchronize()).toEqual(nothing);

    // induce memory pressure! A new pod's gigabyte leaves 500Mi of the pods' limit.
    await step(1 * MINUTE);
    node.add({ name: 'guaranteed-high-2', priority: defaultPriority, requests: newResourceList('100m', '1Gi', ''), limits: newResourceList('100m', '1Gi', ''), memoryWorkingSet: '1Gi' });
    allocatableAvailable('500Mi');
    expect(await synchronize()).toEqual({
      evicted: [
        {
          pod: podToEvict,
          eviction: { gracePeriodSeconds: 1, message: 'The node was low on resource: memory. Threshold quantity: 1Gi, available: 500Mi. Container best-effort-low-priority-low-usage was using 100Mi, request is 0, has larger consumption of memory. ' },
        },
      ],
      events: [thresholdMet('memory')],
      reclaimed: [],
    });

    // reduce memory pressure: no pod killed.
    await step(1 * MINUTE);
    node.containerStats.delete('guaranteed-high-2');
    allocatableAvailable('2Gi');
    expect(await synchronize()).toEqual(nothing);

    // move the clock past transition period: no pod killed.
    await step(5 * MINUTE);
    expect(await synchronize()).toEqual(nothing);
  });

  it('EvictionManager - --enforce-node-allocatable=pods: memory.available\'s hard threshold holds for the pods\' limit too (addAllocatableThresholds); the node\'s own memory met first goes first', async () => {
    const enforced = evictionThresholds({ hard: parseThresholds('memory.available<1Gi'), soft: [], softGracePeriods: new Map(), minimumReclaims: new Map(), enforceNodeAllocatable: ['pods'] });
    const { synchronize, allocatableAvailable } = harness(enforced, memoryPods, 5);
    allocatableAvailable('500Mi');
    const { evicted } = await synchronize();
    expect(evicted.map((e) => [e.pod, e.eviction.message.split('. ')[1]])).toEqual([['best-effort-low-priority-low-usage', 'Threshold quantity: 1Gi, available: 500Mi']]);
    // Both met: byEvictionPriority puts the allocatable threshold (appended last) first.
    allocatableAvailable('300Mi', '700Mi');
    expect((await synchronize()).evicted.map((e) => e.eviction.message.split('. ')[1])).toEqual(['Threshold quantity: 1Gi, available: 300Mi']);
  });
});

describe('EvictionManager - pid.available (eviction_manager_test.go)', () => {
  it('EvictionManager - TestPIDPressure "eviction due to pid pressure": the low-priority pod with the most processes, after the soft grace period, then at once for the hard threshold', async () => {
    const pid = thresholds('pid.available', '1200', { value: '1500', grace: '2m' });
    const { node, synchronize, step } = harness(
      pid,
      [
        { name: 'high-priority-high-usage', priority: highPriority, pidUsage: 900 },
        { name: 'default-priority-low-usage', priority: defaultPriority, pidUsage: 100 },
        { name: 'default-priority-medium-usage', priority: defaultPriority, pidUsage: 400 },
        { name: 'low-priority-high-usage', priority: lowPriority, pidUsage: 600 },
        { name: 'low-priority-low-usage', priority: lowPriority, pidUsage: 50 },
      ],
      5,
    );
    const podToEvict = 'low-priority-high-usage';
    const totalPID = '2000';

    node.pids(totalPID, '300');
    expect(await synchronize()).toEqual(nothing);

    // induce soft threshold for PID pressure (1300 available < 1500): not yet.
    await step(1 * MINUTE);
    node.pids(totalPID, '700');
    expect(await synchronize()).toEqual(nothing);

    // step forward in time past the grace period: no node-level reclaim for pids.
    await step(3 * MINUTE);
    expect(await synchronize()).toEqual({
      evicted: [{ pod: podToEvict, eviction: { gracePeriodSeconds: 5, message: 'The node was low on resource: pids. Threshold quantity: 1500, available: 1300. ' } }],
      events: [thresholdMet('pids')],
      reclaimed: [],
    });

    // remove PID pressure
    await step(20 * MINUTE);
    node.pids(totalPID, '300');
    expect(await synchronize()).toEqual(nothing);

    // re-induce PID pressure (800 available < 1200)
    await step(1 * MINUTE);
    node.pids(totalPID, '1200');
    expect(await synchronize()).toEqual({
      evicted: [{ pod: podToEvict, eviction: { gracePeriodSeconds: 1, message: 'The node was low on resource: pids. Threshold quantity: 1200, available: 800. ' } }],
      events: [thresholdMet('pids')],
      reclaimed: [],
    });

    // reduce PID pressure
    await step(1 * MINUTE);
    node.pids(totalPID, '300');
    expect(await synchronize()).toEqual(nothing);

    await step(5 * MINUTE);
    expect(await synchronize()).toEqual(nothing);
  });

  it('EvictionManager - TestPIDPressure_VerifyPodStatus "eviction due to pid pressure": the lower-priority pod, with the kubelet\'s pids message', async () => {
    const { node, synchronize } = harness(parseThresholds('pid.available<1200'), [
      { name: 'pod1', priority: lowPriority, pidUsage: 2 },
      { name: 'pod2', priority: defaultPriority, pidUsage: 2 },
    ]);
    node.pids('1500', '1000');
    expect(await synchronize()).toEqual({
      evicted: [{ pod: 'pod1', eviction: { gracePeriodSeconds: 1, message: 'The node was low on resource: pids. Threshold quantity: 1200, available: 500. ' } }],
      events: [thresholdMet('pids')],
      reclaimed: [],
    });
  });
});

describe('EvictionManager - nodefs/imagefs.available (eviction_manager_test.go)', () => {
  const cases = [
    { name: 'eviction due to disk pressure; no image fs', signal: 'nodefs.available' },
    { name: 'eviction due to image disk pressure; image fs', signal: 'imagefs.available' },
  ];

  for (const tc of cases) {
    it(`EvictionManager - TestDiskPressureNodeFs "${tc.name}": dead containers and unused images reclaimed first, then the pod by disk usage (soft: after its grace period; hard: at once)`, async () => {
      const { node, synchronize, step } = harness(thresholds(tc.signal, '1Gi', { value: '2Gi', grace: '2m' }), diskPods, 5);
      const podToEvict = 'low-priority-high-usage';
      const message = (threshold: string, available: string) =>
        `The node was low on resource: ephemeral-storage. Threshold quantity: ${threshold}, available: ${available}. Container low-priority-high-usage was using 900Mi, request is 0, has larger consumption of ephemeral-storage. `;

      expect(await synchronize()).toEqual(nothing);

      // induce soft threshold
      await step(1 * MINUTE);
      node.fs.available = value('1.5Gi');
      expect(await synchronize()).toEqual(nothing);

      // step forward in time pass the grace period: the reclaim frees nothing, the right pod goes with MaxPodGracePeriodSeconds.
      await step(3 * MINUTE);
      expect(await synchronize()).toEqual({
        evicted: [{ pod: podToEvict, eviction: { gracePeriodSeconds: 5, message: message('2Gi', '1536Mi') } }],
        events: [thresholdMet('ephemeral-storage')],
        reclaimed: ['containers', 'images'],
      });

      // remove disk pressure
      await step(20 * MINUTE);
      node.fs.available = value('16Gi');
      expect(await synchronize()).toEqual(nothing);

      // induce disk pressure! The hard threshold: 1 s.
      await step(1 * MINUTE);
      node.fs.available = value('750Mi');
      expect(await synchronize()).toEqual({
        evicted: [{ pod: podToEvict, eviction: { gracePeriodSeconds: 1, message: message('1Gi', '750Mi') } }],
        events: [thresholdMet('ephemeral-storage')],
        reclaimed: ['containers', 'images'],
      });

      // reduce disk pressure: no pod killed, no reclaim.
      await step(1 * MINUTE);
      node.fs.available = value('16Gi');
      expect(await synchronize()).toEqual(nothing);

      await step(5 * MINUTE);
      expect(await synchronize()).toEqual(nothing);
    });
  }

  it('EvictionManager - TestDiskPressureNodeFs_VerifyPodStatus "eviction due to disk pressure; no image fs": the pod over its ephemeral-storage request, with the kubelet\'s message', async () => {
    const { node, synchronize } = harness(parseThresholds('nodefs.available<2Gi'), [
      { name: 'below-requests', requests: newResourceList('', '', '1Gi'), limits: newResourceList('', '', '1Gi'), rootFsUsed: '900Mi' },
      { name: 'above-requests', requests: newResourceList('', '', '100Mi'), limits: newResourceList('', '', '1Gi'), rootFsUsed: '700Mi' },
    ]);
    node.fs = { ...node.fs, available: value('1.5Gi'), capacity: value('3Gi') };
    expect(await synchronize()).toEqual({
      evicted: [
        {
          pod: 'above-requests',
          eviction: {
            gracePeriodSeconds: 1,
            message: 'The node was low on resource: ephemeral-storage. Threshold quantity: 2Gi, available: 1536Mi. Container above-requests was using 700Mi, request is 100Mi, has larger consumption of ephemeral-storage. ',
          },
        },
      ],
      events: [thresholdMet('ephemeral-storage')],
      reclaimed: ['containers', 'images'],
    });
  });

  for (const tc of cases) {
    it(`EvictionManager - TestNodeReclaimFuncs "${tc.name}": reclaim enough (minimum reclaim included): no eviction; short of the minimum reclaim, or nothing freed: eviction`, async () => {
      const { node, synchronize, step } = harness(thresholds(tc.signal, '1Gi', undefined, '500Mi'), diskPods, 5);
      const podToEvict = 'low-priority-high-usage';
      const start = { ...node.fs };

      expect(await synchronize()).toEqual(nothing);

      // induce hard threshold; make GC successfully return disk usage to previous levels: no pod killed.
      await step(1 * MINUTE);
      node.fs.available = value('750Mi');
      node.afterReclaim = start;
      expect(await synchronize()).toEqual({ evicted: [], events: [thresholdMet('ephemeral-storage')], reclaimed: ['containers', 'images'] });

      // remove disk pressure
      await step(20 * MINUTE);
      node.fs = { ...start };
      expect(await synchronize()).toEqual(nothing);
      expect(await synchronize()).toEqual(nothing);

      // induce hard threshold; make GC return disk usage below the threshold, but not satisfying minReclaim (1.1G < 1Gi + 500Mi): a pod is killed.
      await step(1 * MINUTE);
      node.fs.available = value('750Mi');
      node.afterReclaim = { available: value('1.1G') };
      expect(await synchronize()).toEqual({
        evicted: [
          {
            pod: podToEvict,
            eviction: {
              gracePeriodSeconds: 1,
              message: 'The node was low on resource: ephemeral-storage. Threshold quantity: 1Gi, available: 750Mi. Container low-priority-high-usage was using 900Mi, request is 0, has larger consumption of ephemeral-storage. ',
            },
          },
        ],
        events: [thresholdMet('ephemeral-storage')],
        reclaimed: ['containers', 'images'],
      });

      // remove disk pressure
      await step(20 * MINUTE);
      node.fs = { ...start };
      node.afterReclaim = undefined;
      expect(await synchronize()).toEqual(nothing);

      // induce disk pressure! Don't reclaim any disk: the right pod, with 1 s.
      await step(1 * MINUTE);
      node.fs.available = value('750Mi');
      const look = await synchronize();
      expect(look.reclaimed).toEqual(['containers', 'images']);
      expect(look.evicted.map((e) => [e.pod, e.eviction.gracePeriodSeconds])).toEqual([[podToEvict, 1]]);

      // reduce disk pressure: no GC, no pod killed.
      await step(1 * MINUTE);
      node.fs = { ...start };
      expect(await synchronize()).toEqual(nothing);

      await step(5 * MINUTE);
      expect(await synchronize()).toEqual(nothing);
    });
  }
});

describe('EvictionManager - nodefs/imagefs.inodesFree (eviction_manager_test.go)', () => {
  // TestInodePressureFsInodes (eviction_manager_test.go:2106): orderedBy(priority,
  // disk(inodes)) evicts low-priority-high-usage, with MaxPodGracePeriodSeconds (5) once
  // the soft threshold's grace period is over, with 1 s for the hard threshold.
  const cases = [
    { name: 'eviction due to disk pressure; no image fs', signal: 'nodefs.inodesFree' },
    { name: 'eviction due to image disk pressure; image fs', signal: 'imagefs.inodesFree' },
  ];
  const podsToMake: PodToMake[] = [
    { name: 'low-priority-high-usage', priority: lowPriority, requests: newResourceList('100m', '1Gi', ''), limits: newResourceList('100m', '1Gi', ''), rootFsInodesUsed: '900Mi' },
    { name: 'below-requests', priority: defaultPriority, requests: newResourceList('100m', '100Mi', ''), limits: newResourceList('200m', '1Gi', ''), rootFsInodesUsed: '50Mi' },
    { name: 'above-requests', priority: defaultPriority, requests: newResourceList('100m', '100Mi', ''), limits: newResourceList('200m', '1Gi', ''), rootFsInodesUsed: '400Mi' },
    { name: 'high-priority-high-usage', priority: highPriority, requests: newResourceList('', '', ''), limits: newResourceList('', '', ''), rootFsInodesUsed: '400Mi' },
    { name: 'low-priority-low-usage', priority: lowPriority, requests: newResourceList('', '', ''), limits: newResourceList('', '', ''), rootFsInodesUsed: '100Mi' },
  ];
  // inodesFree is observed as a DecimalSI count: 1.5Mi prints as 1572864.
  const message = (quantity: string, available: string) => `The node was low on resource: inodes. Threshold quantity: ${quantity}, available: ${available}. `;

  for (const tc of cases) {
    it(`EvictionManager - TestInodePressureFsInodes "${tc.name}": reclaim first, then low-priority-high-usage, with the kubelet's grace periods`, async () => {
      const { node, synchronize, step } = harness(thresholds(tc.signal, '1Mi', { value: '2Mi', grace: '2m' }), podsToMake, 5);

      expect(await synchronize()).toEqual(nothing);

      // induce soft threshold
      await step(1 * MINUTE);
      node.fs.inodesFree = value('1.5Mi');
      expect(await synchronize()).toEqual(nothing);

      // step forward in time pass the grace period
      await step(3 * MINUTE);
      expect(await synchronize()).toEqual({
        evicted: [{ pod: 'low-priority-high-usage', eviction: { gracePeriodSeconds: 5, message: message('2Mi', '1572864') } }],
        events: [thresholdMet('inodes')],
        reclaimed: ['containers', 'images'],
      });

      // remove inode pressure
      await step(20 * MINUTE);
      node.fs.inodesFree = value('3Mi');
      expect(await synchronize()).toEqual(nothing);

      // induce inode pressure!
      await step(1 * MINUTE);
      node.fs.inodesFree = value('0.5Mi');
      expect(await synchronize()).toEqual({
        evicted: [{ pod: 'low-priority-high-usage', eviction: { gracePeriodSeconds: 1, message: message('1Mi', '524288') } }],
        events: [thresholdMet('inodes')],
        reclaimed: ['containers', 'images'],
      });

      // reduce inode pressure
      await step(1 * MINUTE);
      node.fs.inodesFree = value('3Mi');
      expect(await synchronize()).toEqual(nothing);

      await step(5 * MINUTE);
      expect(await synchronize()).toEqual(nothing);
    });
  }
});
