import { describe, expect, it } from 'vitest';
import type { V1Container, V1Pod, V1ResourceRequirements, V1Volume } from '@kubernetes/client-node';
import { parseQuantity } from '@splitlet/quantity';
import { admitUnderPressure, evictionMessage, evictionMessageAndAnnotations, isCriticalPod, rankDiskPressure, rankMemoryPressure, rankPIDPressure, SYSTEM_CRITICAL_PRIORITY, type PodUsage } from './memory-pressure';
import { evictionThresholds, parseGracePeriods, parseMinimumReclaims, parseThresholds, type Signal, type Threshold } from './thresholds';
import { ThresholdTracker, thresholdsMet, thresholdToReclaim, type Observations } from './tracker';

// A port of the kubelet's ranking, message and threshold tables
// (k8s.io/kubernetes v1.36.3 pkg/kubelet/eviction/helpers_test.go, and the Admit table of
// eviction_manager_test.go) to splitlet's @splitlet/eviction. The pod fixtures are the Go
// tests' (newPod, newContainer, newResourceList, newPodMemoryStats, newPodDiskStats,
// newPodProcessStats), translated to PodUsage: a pod's usage, its usage per container and
// its request of the resource ranked. Where splitlet differs from the kubelet, the test
// keeps the kubelet's expectation.
//
// Not applicable here:
// - The containerfs.available signals (TestGetReclaimableThreshold's containerfs threshold,
//   TestAddContainerFsThresholds): splitlet's node has one filesystem for images and
//   containers, so there is no containerfs signal. (The allocatable memory ones are in
//   tracker.spec.ts.)

const lowPriority = -1;
const defaultPriority = 0;
const highPriority = 1;

type ResourceList = Record<string, string>;

/** A quantity in whole units, rounded up as resource.Quantity.Value() does ("" is 0, as the Go tests' parseQuantity). */
const value = (q: string): bigint => (parseQuantity(q || '0') + 999n) / 1000n;

/** newResourceList(cpu, memory, disk). */
const newResourceList = (cpu = '', memory = '', disk = ''): ResourceList => ({
  ...(cpu ? { cpu } : {}),
  ...(memory ? { memory } : {}),
  ...(disk ? { 'ephemeral-storage': disk } : {}),
});
const newContainer = (name: string, requests: ResourceList = {}, limits: ResourceList = {}): V1Container => ({ name, resources: { requests, limits } });
const newRestartableInitContainer = (name: string, requests: ResourceList = {}, limits: ResourceList = {}): V1Container => ({ ...newContainer(name, requests, limits), restartPolicy: 'Always' });
const localVolume = (): V1Volume[] => [{ name: 'local-volume', emptyDir: {} }];
/** newPod: the name is the UID. */
const newPod = (name: string, priority: number, containers: V1Container[], volumes?: V1Volume[]): V1Pod => ({
  metadata: { name, uid: name },
  spec: { containers, ...(volumes ? { volumes } : {}), priority },
});

/** GetResourceRequestQuantity for the ranking fixtures (regular containers only): their requests summed. */
const request = (pod: V1Pod, resource: string): bigint => (pod.spec?.containers ?? []).reduce((sum, c) => sum + value(String(c.resources?.requests?.[resource] ?? '')), 0n);

/** newPodMemoryStats: the pod's working set (its one container stat carries no memory figure). */
const newPodMemoryStats = (pod: V1Pod, workingSet: string): PodUsage => ({ pod, usageBytes: value(workingSet), containers: new Map(), requestBytes: request(pod, 'memory') });

/** newPodDiskStats: every container's rootfs + logs, and each local (emptyDir) volume's usage. */
function newPodDiskStats(pod: V1Pod, rootFsUsed: string, logsUsed: string, perLocalVolumeUsed: string): PodUsage {
  const containers = new Map((pod.spec?.containers ?? []).map((c) => [c.name, value(rootFsUsed) + value(logsUsed)] as const));
  const localVolumes = (pod.spec?.volumes ?? []).filter((v) => v.emptyDir || v.configMap || v.hostPath).length;
  const usageBytes = [...containers.values()].reduce((a, b) => a + b, 0n) + BigInt(localVolumes) * value(perLocalVolumeUsed);
  return { pod, usageBytes, containers, requestBytes: request(pod, 'ephemeral-storage') };
}

/** newPodProcessStats: usageBytes holds the process count. */
const newPodProcessStats = (pod: V1Pod, num: number): PodUsage => ({ pod, usageBytes: BigInt(num), containers: new Map(), requestBytes: 0n });

/** A statsFunc that finds nothing for the pod. */
const noStats = (pod: V1Pod): PodUsage => ({ pod, containers: new Map(), requestBytes: 0n });

const names = (ranked: readonly PodUsage[]): string[] => ranked.map((u) => u.pod.metadata!.name!);

describe('rankMemoryPressure (helpers_test.go)', () => {
  it('rankMemoryPressure - TestOrderedByExceedsRequestMemory: the pod exceeding its memory request goes before the one below it', () => {
    const below = newPod('below-requests', -1, [newContainer('below-requests', newResourceList('', '200Mi', ''), newResourceList('', '', ''))]);
    const exceeds = newPod('exceeds-requests', 1, [newContainer('exceeds-requests', newResourceList('', '100Mi', ''), newResourceList('', '', ''))]);
    const stats = [
      newPodMemoryStats(below, '199Mi'), // -1 relative to request
      newPodMemoryStats(exceeds, '101Mi'), // 1 relative to request
    ];
    expect(names(rankMemoryPressure(stats))).toEqual(['exceeds-requests', 'below-requests']);
  });

  it('rankMemoryPressure - TestOrderedByMemory: the greediest memory consumer relative to its request first', () => {
    const pod1 = newPod('best-effort-high', defaultPriority, [newContainer('best-effort-high', newResourceList('', '', ''), newResourceList('', '', ''))]);
    const pod2 = newPod('best-effort-low', defaultPriority, [newContainer('best-effort-low', newResourceList('', '', ''), newResourceList('', '', ''))]);
    const pod3 = newPod('burstable-high', defaultPriority, [newContainer('burstable-high', newResourceList('', '100Mi', ''), newResourceList('', '1Gi', ''))]);
    const pod4 = newPod('burstable-low', defaultPriority, [newContainer('burstable-low', newResourceList('', '100Mi', ''), newResourceList('', '1Gi', ''))]);
    const pod5 = newPod('guaranteed-high', defaultPriority, [newContainer('guaranteed-high', newResourceList('', '1Gi', ''), newResourceList('', '1Gi', ''))]);
    const pod6 = newPod('guaranteed-low', defaultPriority, [newContainer('guaranteed-low', newResourceList('', '1Gi', ''), newResourceList('', '1Gi', ''))]);
    const stats = [
      newPodMemoryStats(pod1, '500Mi'), // 500 relative to request
      newPodMemoryStats(pod2, '300Mi'), // 300 relative to request
      newPodMemoryStats(pod3, '800Mi'), // 700 relative to request
      newPodMemoryStats(pod4, '300Mi'), // 200 relative to request
      newPodMemoryStats(pod5, '800Mi'), // -200 relative to request
      newPodMemoryStats(pod6, '200Mi'), // -800 relative to request
    ];
    expect(names(rankMemoryPressure(stats))).toEqual(['burstable-high', 'best-effort-high', 'best-effort-low', 'burstable-low', 'guaranteed-high', 'guaranteed-low']);
  });

  it('rankMemoryPressure - TestOrderedByPriorityMemory: exceeding requests, then priority, then memory consumption relative to request', () => {
    const make = (name: string, priority: number, memoryRequest: string) => newPod(name, priority, [newContainer(name, newResourceList('', memoryRequest, ''), newResourceList('', '', ''))]);
    const pod1 = make('above-requests-low-priority-high-usage', lowPriority, '');
    const pod2 = make('above-requests-low-priority-low-usage', lowPriority, '');
    const pod3 = make('above-requests-high-priority-high-usage', highPriority, '100Mi');
    const pod4 = make('above-requests-high-priority-low-usage', highPriority, '100Mi');
    const pod5 = make('below-requests-low-priority-high-usage', lowPriority, '1Gi');
    const pod6 = make('below-requests-low-priority-low-usage', lowPriority, '1Gi');
    const pod7 = make('below-requests-high-priority-high-usage', highPriority, '1Gi');
    const pod8 = make('below-requests-high-priority-low-usage', highPriority, '1Gi');
    const stats = new Map([
      [pod1, newPodMemoryStats(pod1, '500Mi')], // 500 relative to request
      [pod2, newPodMemoryStats(pod2, '50Mi')], // 50 relative to request
      [pod3, newPodMemoryStats(pod3, '600Mi')], // 500 relative to request
      [pod4, newPodMemoryStats(pod4, '150Mi')], // 50 relative to request
      [pod5, newPodMemoryStats(pod5, '800Mi')], // -200 relative to request
      [pod6, newPodMemoryStats(pod6, '200Mi')], // -800 relative to request
      [pod7, newPodMemoryStats(pod7, '800Mi')], // -200 relative to request
      [pod8, newPodMemoryStats(pod8, '200Mi')], // -800 relative to request
    ]);
    const pods = [pod8, pod7, pod6, pod5, pod4, pod3, pod2, pod1];
    expect(names(rankMemoryPressure(pods.map((p) => stats.get(p)!)))).toEqual([pod1, pod2, pod3, pod4, pod5, pod6, pod7, pod8].map((p) => p.metadata!.name));
  });

  it('rankMemoryPressure - TestOrderedByPriority: the lower priority first', () => {
    const low = newPod('low-priority', -134, [newContainer('low-priority', newResourceList('', '', ''), newResourceList('', '', ''))]);
    const medium = newPod('medium-priority', 1, [newContainer('medium-priority', newResourceList('100m', '100Mi', ''), newResourceList('200m', '200Mi', ''))]);
    const high = newPod('high-priority', 12534, [newContainer('high-priority', newResourceList('200m', '200Mi', ''), newResourceList('200m', '200Mi', ''))]);
    // orderedBy(priority) alone: no stats for any pod, so only priority tells them apart.
    const pods = [high, medium, low];
    expect(names(rankMemoryPressure(pods.map(noStats)))).toEqual(['low-priority', 'medium-priority', 'high-priority']);
    expect(names(rankDiskPressure(pods.map(noStats)))).toEqual(['low-priority', 'medium-priority', 'high-priority']);
    expect(names(rankPIDPressure(pods.map(noStats)))).toEqual(['low-priority', 'medium-priority', 'high-priority']);
  });

  it('rankMemoryPressure - TestStatsNotFoundForPod: with no stats for either pod, every comparator finds them equal', () => {
    const pod1 = newPod('fake-pod1', defaultPriority, [newContainer('fake-container1', newResourceList('', '', ''), newResourceList('', '', ''))]);
    const pod2 = newPod('fake-pod2', defaultPriority, [newContainer('fake-container2', newResourceList('', '', ''), newResourceList('', '', ''))]);
    // process, memory, exceedMemoryRequests, exceedDiskRequests, disk all return 0: a stable ranking keeps the input order either way.
    for (const rank of [rankMemoryPressure, rankDiskPressure, rankPIDPressure]) {
      expect(names(rank([noStats(pod1), noStats(pod2)]))).toEqual(['fake-pod1', 'fake-pod2']);
      expect(names(rank([noStats(pod2), noStats(pod1)]))).toEqual(['fake-pod2', 'fake-pod1']);
    }
  });
});

describe('rankDiskPressure (helpers_test.go)', () => {
  it('rankDiskPressure - TestOrderedByExceedsRequestDisk: the pod exceeding its ephemeral-storage request goes before the one below it', () => {
    const below = newPod('below-requests', -1, [newContainer('below-requests', { 'ephemeral-storage': '200Mi' }, newResourceList('', '', ''))]);
    const exceeds = newPod('exceeds-requests', 1, [newContainer('exceeds-requests', { 'ephemeral-storage': '100Mi' }, newResourceList('', '', ''))]);
    const stats = [
      newPodDiskStats(below, '100Mi', '99Mi', '0Mi'), // -1 relative to request
      newPodDiskStats(exceeds, '90Mi', '11Mi', '0Mi'), // 1 relative to request
    ];
    expect(names(rankDiskPressure(stats))).toEqual(['exceeds-requests', 'below-requests']);
  });

  it('rankDiskPressure - TestOrderedbyDisk: the greediest disk consumer (rootfs, logs and local volumes) relative to its request first', () => {
    const make = (name: string, request: string, limit: string) => newPod(name, defaultPriority, [newContainer(name, newResourceList('', '', request), newResourceList('', '', limit))], localVolume());
    const pod1 = make('best-effort-high', '', '');
    const pod2 = make('best-effort-low', '', '');
    const pod3 = make('burstable-high', '100Mi', '400Mi');
    const pod4 = make('burstable-low', '100Mi', '400Mi');
    const pod5 = make('guaranteed-high', '400Mi', '400Mi');
    const pod6 = make('guaranteed-low', '400Mi', '400Mi');
    const stats = [
      newPodDiskStats(pod1, '50Mi', '100Mi', '150Mi'), // 300Mi - 0 = 300Mi
      newPodDiskStats(pod2, '25Mi', '25Mi', '50Mi'), // 100Mi - 0 = 100Mi
      newPodDiskStats(pod3, '150Mi', '150Mi', '50Mi'), // 350Mi - 100Mi = 250Mi
      newPodDiskStats(pod4, '25Mi', '35Mi', '50Mi'), // 110Mi - 100Mi = 10Mi
      newPodDiskStats(pod5, '225Mi', '100Mi', '50Mi'), // 375Mi - 400Mi = -25Mi
      newPodDiskStats(pod6, '25Mi', '45Mi', '50Mi'), // 120Mi - 400Mi = -280Mi
    ];
    expect(names(rankDiskPressure(stats))).toEqual(['best-effort-high', 'burstable-high', 'best-effort-low', 'burstable-low', 'guaranteed-high', 'guaranteed-low']);
  });

  it('rankDiskPressure - TestOrderedByPriorityDisk: exceeding requests, then priority, then the greediest disk consumer', () => {
    const make = (name: string, priority: number, diskRequest: string) => newPod(name, priority, [newContainer(name, newResourceList('', '', diskRequest), newResourceList('', '', ''))], localVolume());
    const pod1 = make('above-requests-low-priority-high-usage', lowPriority, '');
    const pod2 = make('above-requests-low-priority-low-usage', lowPriority, '');
    const pod3 = make('above-requests-high-priority-high-usage', highPriority, '100Mi');
    const pod4 = make('above-requests-high-priority-low-usage', highPriority, '100Mi');
    const pod5 = make('below-requests-low-priority-high-usage', lowPriority, '1Gi');
    const pod6 = make('below-requests-low-priority-low-usage', lowPriority, '1Gi');
    const pod7 = make('below-requests-high-priority-high-usage', highPriority, '1Gi');
    const pod8 = make('below-requests-high-priority-low-usage', highPriority, '1Gi');
    const stats = new Map([
      [pod1, newPodDiskStats(pod1, '200Mi', '100Mi', '200Mi')], // 500 relative to request
      [pod2, newPodDiskStats(pod2, '10Mi', '10Mi', '30Mi')], // 50 relative to request
      [pod3, newPodDiskStats(pod3, '200Mi', '150Mi', '250Mi')], // 500 relative to request
      [pod4, newPodDiskStats(pod4, '90Mi', '50Mi', '10Mi')], // 50 relative to request
      [pod5, newPodDiskStats(pod5, '500Mi', '200Mi', '100Mi')], // -200 relative to request
      [pod6, newPodDiskStats(pod6, '50Mi', '100Mi', '50Mi')], // -800 relative to request
      [pod7, newPodDiskStats(pod7, '250Mi', '500Mi', '50Mi')], // -200 relative to request
      [pod8, newPodDiskStats(pod8, '100Mi', '60Mi', '40Mi')], // -800 relative to request
    ]);
    const pods = [pod8, pod7, pod6, pod5, pod4, pod3, pod2, pod1];
    expect(names(rankDiskPressure(pods.map((p) => stats.get(p)!)))).toEqual([pod1, pod2, pod3, pod4, pod5, pod6, pod7, pod8].map((p) => p.metadata!.name));
  });

  // Inodes: rankDiskPressureFunc with resourceInodes. No pod requests inodes, so every pod
  // using any exceeds its request alike; then priority, then the most inodes.
  /** newPodInodeStats: every container's rootfs + logs inodes, and each local volume's. */
  const newPodInodeStats = (pod: V1Pod, rootFs: string, logs: string, perLocalVolume: string): PodUsage => ({ ...newPodDiskStats(pod, rootFs, logs, perLocalVolume), requestBytes: 0n });
  const plain = (name: string, priority: number) => newPod(name, priority, [newContainer(name, newResourceList('', '', ''), newResourceList('', '', ''))], localVolume());

  it('rankDiskPressure (inodes) - TestOrderedbyInodes: the most inodes first', () => {
    const [low, medium, high] = [plain('low', defaultPriority), plain('medium', defaultPriority), plain('high', defaultPriority)];
    const stats = new Map([
      [low, newPodInodeStats(low, '50000', '100000', '50000')], // 200000
      [medium, newPodInodeStats(medium, '100000', '150000', '50000')], // 300000
      [high, newPodInodeStats(high, '200000', '150000', '50000')], // 400000
    ]);
    expect(names(rankDiskPressure([low, medium, high].map((p) => stats.get(p)!)))).toEqual(['high', 'medium', 'low']);
  });

  it('rankDiskPressure (inodes) - TestOrderedByPriorityInodes: priority, then the most inodes', () => {
    const pod1 = plain('low-priority-high-usage', lowPriority);
    const pod2 = plain('low-priority-low-usage', lowPriority);
    const pod3 = plain('high-priority-high-usage', highPriority);
    const pod4 = plain('high-priority-low-usage', highPriority);
    const stats = new Map([
      [pod1, newPodInodeStats(pod1, '50000', '100000', '250000')], // 400000
      [pod2, newPodInodeStats(pod2, '60000', '30000', '10000')], // 100000
      [pod3, newPodInodeStats(pod3, '150000', '150000', '50000')], // 350000
      [pod4, newPodInodeStats(pod4, '10000', '40000', '100000')], // 150000
    ]);
    expect(names(rankDiskPressure([pod4, pod3, pod2, pod1].map((p) => stats.get(p)!)))).toEqual([pod1, pod2, pod3, pod4].map((p) => p.metadata!.name));
  });
});

describe('rankPIDPressure (helpers_test.go)', () => {
  it('rankPIDPressure - TestOrderedByPriorityProcess: priority, then the pod with more processes first', () => {
    const pod1 = newPod('low-priority-high-usage', lowPriority, []);
    const pod2 = newPod('low-priority-low-usage', lowPriority, []);
    const pod3 = newPod('high-priority-high-usage', highPriority, []);
    const pod4 = newPod('high-priority-low-usage', highPriority, []);
    const stats = new Map([
      [pod1, newPodProcessStats(pod1, 20)],
      [pod2, newPodProcessStats(pod2, 6)],
      [pod3, newPodProcessStats(pod3, 20)],
      [pod4, newPodProcessStats(pod4, 5)],
    ]);
    const pods = [pod4, pod3, pod2, pod1];
    expect(names(rankPIDPressure(pods.map((p) => stats.get(p)!)))).toEqual(['low-priority-high-usage', 'low-priority-low-usage', 'high-priority-high-usage', 'high-priority-low-usage']);
  });
});

describe('evictionMessage (helpers_test.go TestEvictionMessage)', () => {
  const podName = 'pod-eviction-message';
  const [init1, init2, init3] = ['init1', 'init2', 'init3'];
  const [restartableInit1, restartableInit2, restartableInit3] = ['restartable-init1', 'restartable-init2', 'restartable-init3'];
  const [regular1, regular2, regular3] = ['regular1', 'regular2', 'regular3'];
  const ephemeral1 = 'ephemeral1';
  /** containerMessageFmt, after nodeLowMessageFmt (and podMessageFmt, with pod-level resources). */
  const memoryExceededEvictionMessage = (podMessage: string, containers: { name: string; request: string; usage: string }[]) =>
    'The node was low on resource: memory. ' + podMessage + containers.map((c) => `Container ${c.name} was using ${c.usage}, request is ${c.request}, has larger consumption of memory. `).join('');

  const cases: {
    name: string;
    podResources?: V1ResourceRequirements;
    initContainers?: V1Container[];
    containers: V1Container[];
    ephemeralContainers?: string[];
    podMemoryStats?: string;
    containerMemoryStats: { name: string; usage: string }[];
    expectedContainerMessage: { name: string; request: string; usage: string }[];
    expectedAnnotations?: Record<string, string>;
    podLevelResourcesEnabled?: boolean;
  }[] = [
    {
      name: 'No container exceeds memory usage',
      initContainers: [newContainer(init1, newResourceList('', '100Mi', '')), newRestartableInitContainer(restartableInit1, newResourceList('', '200Mi', ''))],
      containers: [newContainer(regular1, newResourceList('', '200Mi', ''))],
      // Terminated init containers aren't included in the containerMemoryStats
      containerMemoryStats: [
        { name: restartableInit1, usage: '150Mi' },
        { name: regular1, usage: '100Mi' },
      ],
      expectedContainerMessage: [],
    },
    {
      name: 'Init container exceeds memory usage',
      initContainers: [newContainer(init1, newResourceList('', '100Mi', '')), newRestartableInitContainer(restartableInit1, newResourceList('', '200Mi', '')), newContainer(init2, newResourceList('', '150Mi', ''))],
      containers: [newContainer(regular1, newResourceList('', '200Mi', ''))],
      // An eviction occurred while the init container was running
      containerMemoryStats: [{ name: init1, usage: '150Mi' }],
      expectedContainerMessage: [{ name: init1, request: '100Mi', usage: '150Mi' }],
      expectedAnnotations: { offending_containers: init1, offending_containers_usage: '150Mi' },
    },
    {
      name: 'Restartable init container exceeds memory usage',
      initContainers: [
        newContainer(init1, newResourceList('', '100Mi', '')),
        newRestartableInitContainer(restartableInit1, newResourceList('', '200Mi', '')),
        newRestartableInitContainer(restartableInit2, newResourceList('', '200Mi', '')),
      ],
      containers: [newContainer(regular1, newResourceList('', '200Mi', ''))],
      containerMemoryStats: [
        { name: restartableInit1, usage: '250Mi' },
        { name: restartableInit2, usage: '150Mi' },
        { name: regular1, usage: '200Mi' },
      ],
      expectedContainerMessage: [{ name: restartableInit1, request: '200Mi', usage: '250Mi' }],
      expectedAnnotations: { offending_containers: restartableInit1, offending_containers_usage: '250Mi' },
    },
    {
      name: 'Regular container exceeds memory usage',
      initContainers: [newContainer(init1, newResourceList('', '100Mi', '')), newRestartableInitContainer(restartableInit1, newResourceList('', '200Mi', ''))],
      containers: [newContainer(regular1, newResourceList('', '200Mi', '')), newContainer(regular2, newResourceList('', '300Mi', ''))],
      containerMemoryStats: [
        { name: restartableInit1, usage: '200Mi' },
        { name: regular1, usage: '250Mi' },
        { name: regular2, usage: '250Mi' },
      ],
      expectedContainerMessage: [{ name: regular1, request: '200Mi', usage: '250Mi' }],
      expectedAnnotations: { offending_containers: regular1, offending_containers_usage: '250Mi' },
    },
    {
      name: 'Ephemeral container exceeds memory usage',
      initContainers: [newContainer(init1, newResourceList('', '100Mi', '')), newRestartableInitContainer(restartableInit1, newResourceList('', '200Mi', ''))],
      containers: [newContainer(regular1, newResourceList('', '200Mi', ''))],
      ephemeralContainers: [ephemeral1],
      containerMemoryStats: [
        { name: restartableInit1, usage: '200Mi' },
        { name: regular1, usage: '150Mi' },
        { name: ephemeral1, usage: '250Mi' },
      ],
      expectedContainerMessage: [],
    },
    {
      name: 'Both regular and restartable init containers exceed memory usage due to missing memory requests',
      initContainers: [
        newContainer(init1, newResourceList('', '100Mi', '')),
        newRestartableInitContainer(restartableInit1, newResourceList('', '', '')),
        newRestartableInitContainer(restartableInit2, newResourceList('', '300Mi', '')),
      ],
      containers: [newContainer(regular1, newResourceList('', '', ''))],
      containerMemoryStats: [
        { name: restartableInit1, usage: '250Mi' },
        { name: restartableInit2, usage: '250Mi' },
        { name: regular1, usage: '200Mi' },
      ],
      // The kubelet names the containers in the order of the pod's stats (helpers.go:1273).
      expectedContainerMessage: [
        { name: restartableInit1, request: '0', usage: '250Mi' },
        { name: regular1, request: '0', usage: '200Mi' },
      ],
      expectedAnnotations: { offending_containers: [restartableInit1, regular1].join(','), offending_containers_usage: '250Mi,200Mi' },
    },
    {
      name: 'Multiple regular and restartable init containers exceed memory usage',
      initContainers: [
        newContainer(init1, newResourceList('', '100Mi', '')),
        newContainer(init2, newResourceList('', '100Mi', '')),
        newContainer(init3, newResourceList('', '100Mi', '')),
        newRestartableInitContainer(restartableInit1, newResourceList('', '100Mi', '')),
        newRestartableInitContainer(restartableInit2, newResourceList('', '200Mi', '')),
        newRestartableInitContainer(restartableInit3, newResourceList('', '300Mi', '')),
      ],
      containers: [newContainer(regular1, newResourceList('', '300Mi', '')), newContainer(regular2, newResourceList('', '200Mi', '')), newContainer(regular3, newResourceList('', '100Mi', ''))],
      containerMemoryStats: [
        { name: restartableInit1, usage: '150Mi' },
        { name: restartableInit2, usage: '250Mi' },
        { name: restartableInit3, usage: '250Mi' },
        { name: regular1, usage: '50Mi' },
        { name: regular2, usage: '250Mi' },
        { name: regular3, usage: '400Mi' },
      ],
      expectedContainerMessage: [
        { name: restartableInit1, request: '100Mi', usage: '150Mi' },
        { name: restartableInit2, request: '200Mi', usage: '250Mi' },
        { name: regular2, request: '200Mi', usage: '250Mi' },
        { name: regular3, request: '100Mi', usage: '400Mi' },
      ],
      expectedAnnotations: { offending_containers: [restartableInit1, restartableInit2, regular2, regular3].join(','), offending_containers_usage: '150Mi,250Mi,250Mi,400Mi' },
    },
    {
      // PodLevelResources is beta and on by default since 1.34 (pkg/features/kube_features.go).
      name: 'Regular pod with pod level resources exceeds memory usage',
      podResources: { requests: newResourceList('', '250Mi', ''), limits: newResourceList('', '1000Mi', '') },
      podMemoryStats: '600Mi',
      containers: [newContainer(regular1, newResourceList('', '', '')), newContainer(regular2, newResourceList('', '', ''))],
      containerMemoryStats: [
        { name: regular1, usage: '250Mi' },
        { name: regular2, usage: '350Mi' },
      ],
      expectedContainerMessage: [
        { name: regular1, request: '0', usage: '250Mi' },
        { name: regular2, request: '0', usage: '350Mi' },
      ],
      expectedAnnotations: { offending_pod: podName, offending_pod_usage: '600Mi', offending_containers: [regular1, regular2].join(','), offending_containers_usage: '250Mi,350Mi' },
      podLevelResourcesEnabled: true,
    },
  ];

  for (const tc of cases) {
    it(`evictionMessage - ${tc.name}`, () => {
      // newPodWithInitContainers(podName, 1, podResources, initContainers, containers, nil)
      const pod = newPod(podName, 1, tc.containers);
      pod.spec!.initContainers = tc.initContainers ?? [];
      if (tc.podResources) pod.spec!.resources = tc.podResources;
      if (tc.ephemeralContainers) pod.spec!.ephemeralContainers = tc.ephemeralContainers.map((name) => ({ name, targetContainerName: regular1 }));
      // The pod's working set is a dummy 1Mi (or the pod's, with pod-level resources); the containers' as given, in that order.
      const usage: PodUsage = {
        pod,
        usageBytes: value(tc.podLevelResourcesEnabled ? tc.podMemoryStats! : '1Mi'),
        containers: new Map(tc.containerMemoryStats.map((s) => [s.name, value(s.usage)] as const)),
        requestBytes: 0n,
      };
      const podMessage = tc.podLevelResourcesEnabled ? `Pod ${podName} was using ${tc.podMemoryStats}, request is ${tc.podResources!.requests!['memory']}, has larger consumption of memory. ` : '';
      // No threshold met for memory among the thresholds passed (an empty list): no threshold part.
      const { message, annotations } = evictionMessageAndAnnotations('memory', usage, undefined, 0n, 0n);
      expect(message).toBe(memoryExceededEvictionMessage(podMessage, tc.expectedContainerMessage));
      // The keys the Go test reads; a case without expectedAnnotations expects them empty.
      const keys = ['offending_containers', 'offending_containers_usage', ...(tc.podLevelResourcesEnabled ? ['offending_pod', 'offending_pod_usage'] : [])];
      for (const k of keys) expect(annotations[k], k).toBe(tc.expectedAnnotations?.[k] ?? '');
      expect(annotations['starved_resource']).toBe('memory');
    });
  }

  it('evictionMessage - TestMemoryPressure_VerifyPodStatus: memory, threshold 2Gi, 1500Mi available; the fixture\'s container stat has no memory figure, so no container is named', () => {
    const pod = newPod('above-requests', defaultPriority, [newContainer('above-requests', newResourceList('', '100Mi', ''), newResourceList('', '1Gi', ''))]);
    const [threshold] = parseThresholds('memory.available<2Gi');
    expect(evictionMessage('memory', newPodMemoryStats(pod, '700Mi'), threshold, value('1500Mi'), value('3000Mi'))).toBe('The node was low on resource: memory. Threshold quantity: 2Gi, available: 1500Mi. ');
  });

  it('evictionMessage - TestDiskPressureNodeFs_VerifyPodStatus "eviction due to disk pressure; no image fs": nodefs 2Gi threshold, 1.5Gi available, the container over its ephemeral-storage request', () => {
    const pod = newPod('above-requests', defaultPriority, [newContainer('above-requests', newResourceList('', '', '100Mi'), newResourceList('', '', '1Gi'))]);
    const [threshold] = parseThresholds('nodefs.available<2Gi');
    expect(evictionMessage('ephemeral-storage', newPodDiskStats(pod, '700Mi', '', ''), threshold, value('1.5Gi'), 2n * value('1.5Gi'))).toBe(
      'The node was low on resource: ephemeral-storage. Threshold quantity: 2Gi, available: 1536Mi. Container above-requests was using 700Mi, request is 100Mi, has larger consumption of ephemeral-storage. ',
    );
  });

  it('evictionMessage - TestDiskPressureNodeFs_VerifyPodStatus "eviction due to image disk pressure; image fs": imagefs 50Gi threshold, 10Gi available', () => {
    const pod = newPod('above-requests', defaultPriority, [newContainer('above-requests', newResourceList('', '', '50Gi'), newResourceList('', '', '50Gi'))]);
    const [threshold] = parseThresholds('imagefs.available<50Gi');
    expect(evictionMessage('ephemeral-storage', newPodDiskStats(pod, '80Gi', '', ''), threshold, value('10Gi'), value('20Gi'))).toBe(
      'The node was low on resource: ephemeral-storage. Threshold quantity: 50Gi, available: 10Gi. Container above-requests was using 80Gi, request is 50Gi, has larger consumption of ephemeral-storage. ',
    );
  });

  it('evictionMessage - TestPIDPressure_VerifyPodStatus "eviction due to pid pressure": threshold 1200, 500 available, no container lines', () => {
    const pod = newPod('pod1', lowPriority, [newContainer('pod1')]);
    const [threshold] = parseThresholds('pid.available<1200');
    expect(evictionMessage('pids', newPodProcessStats(pod, 2), threshold, 500n, 1500n)).toBe('The node was low on resource: pids. Threshold quantity: 1200, available: 500. ');
  });
});

describe('thresholds (helpers_test.go)', () => {
  const hardThreshold = evictionThresholds({
    hard: parseThresholds('memory.available<1Gi'),
    soft: [],
    softGracePeriods: new Map(),
    minimumReclaims: parseMinimumReclaims('memory.available=500Mi'),
  })[0]!;
  /** An observation of memory.available (the Go table gives no capacity: a quantity threshold needs none). */
  const memory = (available: string, capacity = '0'): Observations => ({ 'memory.available': { available: value(available), capacity: value(capacity) } });

  const thresholdsMetCases: { name: string; enforceMinReclaim: boolean; thresholds: Threshold[]; observations: Observations; result: Threshold[] }[] = [
    { name: 'empty', enforceMinReclaim: false, thresholds: [], observations: {}, result: [] },
    { name: 'threshold-met-memory', enforceMinReclaim: false, thresholds: [hardThreshold], observations: memory('500Mi'), result: [hardThreshold] },
    { name: 'threshold-not-met', enforceMinReclaim: false, thresholds: [hardThreshold], observations: memory('2Gi'), result: [] },
    { name: 'threshold-met-with-min-reclaim', enforceMinReclaim: true, thresholds: [hardThreshold], observations: memory('1.05Gi'), result: [hardThreshold] },
    { name: 'threshold-not-met-with-min-reclaim', enforceMinReclaim: true, thresholds: [hardThreshold], observations: memory('2Gi'), result: [] },
  ];
  for (const tc of thresholdsMetCases) {
    it(`thresholdsMet - TestThresholdsMet "${tc.name}"`, () => {
      expect(thresholdsMet(tc.thresholds, tc.observations, tc.enforceMinReclaim)).toEqual(tc.result);
    });
  }

  const specificThresholds = evictionThresholds({
    hard: parseThresholds('memory.available<20%,nodefs.available<30%'),
    soft: [],
    softGracePeriods: new Map(),
    minimumReclaims: parseMinimumReclaims('memory.available=5%'),
  });
  const both = (memoryAvailable: string, nodeFsAvailable: string): Observations => ({
    ...memory(memoryAvailable, '1000Mi'),
    'nodefs.available': { available: value(nodeFsAvailable), capacity: value('1000Gi') },
  });
  const percentageCases: { name: string; enforceMinReclaim: boolean; observations: Observations; result: Threshold[] }[] = [
    { name: 'BothMet', enforceMinReclaim: false, observations: both('100Mi', '100Gi'), result: specificThresholds },
    { name: 'NoneMet', enforceMinReclaim: false, observations: both('300Mi', '400Gi'), result: [] },
    { name: 'DiskMet', enforceMinReclaim: false, observations: both('300Mi', '100Gi'), result: [specificThresholds[1]!] },
    { name: 'MemoryMet', enforceMinReclaim: false, observations: both('100Mi', '400Gi'), result: [specificThresholds[0]!] },
    { name: 'MemoryMetWithMinReclaim', enforceMinReclaim: true, observations: memory('225Mi', '1000Mi'), result: [specificThresholds[0]!] },
    { name: 'MemoryNotMetWithMinReclaim', enforceMinReclaim: true, observations: memory('300Mi', '1000Mi'), result: [] },
  ];
  for (const tc of percentageCases) {
    it(`thresholdsMet - TestPercentageThresholdsMet "${tc.name}"`, () => {
      expect(thresholdsMet(specificThresholds, tc.observations, tc.enforceMinReclaim)).toEqual(tc.result);
    });
  }

  describe('grace periods (TestThresholdsFirstObservedAt, TestThresholdsMetGracePeriod) through ThresholdTracker', () => {
    const [hard, soft] = evictionThresholds({
      hard: parseThresholds('memory.available<1Gi'),
      soft: parseThresholds('memory.available<2Gi'),
      softGracePeriods: parseGracePeriods('memory.available=1m'),
      minimumReclaims: new Map(),
    });
    const now = Date.UTC(2026, 0, 1);

    it('ThresholdTracker - TestThresholdsMetGracePeriod "empty": nothing observed met, nothing to act on', () => {
      expect(new ThresholdTracker([hard!, soft!]).observe(memory('3Gi'), now)).toEqual({ met: [], actionable: [] });
    });

    it('ThresholdTracker - TestThresholdsMetGracePeriod "hard-threshold-met": a hard threshold first observed now acts now', () => {
      expect(new ThresholdTracker([hard!]).observe(memory('500Mi'), now).actionable).toEqual([hard]);
    });

    it('ThresholdTracker - TestThresholdsMetGracePeriod "soft-threshold-not-met": a soft threshold first observed now does not act yet', () => {
      expect(new ThresholdTracker([soft!]).observe(memory('1.5Gi'), now)).toEqual({ met: [soft], actionable: [] });
    });

    it('ThresholdTracker - TestThresholdsMetGracePeriod "soft-threshold-met" / TestThresholdsFirstObservedAt "previous-observation": first observed 2 minutes ago (kept), past its 1 minute grace period', () => {
      const t = new ThresholdTracker([soft!]);
      t.observe(memory('1.5Gi'), now - 2 * 60_000);
      expect(t.observe(memory('1.5Gi'), now).actionable).toEqual([soft]);
    });

    it('ThresholdTracker - TestThresholdsFirstObservedAt "no-previous-observation": first observed at this look, its grace period runs from now', () => {
      const t = new ThresholdTracker([soft!]);
      expect(t.observe(memory('1.5Gi'), now).actionable).toEqual([]);
      expect(t.observe(memory('1.5Gi'), now + 59_999).actionable).toEqual([]);
      expect(t.observe(memory('1.5Gi'), now + 60_000).actionable).toEqual([soft]);
    });
  });

  describe('the threshold to reclaim (TestSortByEvictionPriority, TestGetReclaimableThreshold) through thresholdToReclaim', () => {
    const signal = (s: Signal): Threshold => parseThresholds(`${s}<150Mi`)[0]!;

    it('thresholdToReclaim - TestSortByEvictionPriority "empty threshold list": none', () => {
      expect(thresholdToReclaim([])).toBeUndefined();
    });

    it('thresholdToReclaim - TestSortByEvictionPriority "memory first": memory before nodefs and pid', () => {
      const thresholds = [signal('nodefs.available'), signal('pid.available'), signal('memory.available')];
      expect(thresholdToReclaim(thresholds)?.signal).toBe('memory.available');
    });

    it('thresholdToReclaim - TestGetReclaimableThreshold "": memory.available (150Mi) among memory, imagefs and nodefs thresholds', () => {
      const thresholds = evictionThresholds({
        hard: parseThresholds('memory.available<150Mi,imagefs.available<150Mi,nodefs.available<100Mi'),
        soft: [],
        softGracePeriods: new Map(),
        minimumReclaims: parseMinimumReclaims('memory.available=0,imagefs.available=2Gi,nodefs.available=1Gi'),
      });
      const t = thresholdToReclaim(thresholds);
      expect(t?.signal).toBe('memory.available');
      expect(t?.quantity).toBe(value('150Mi'));
      expect(t?.gracePeriodMs).toBeUndefined();
    });

    it('thresholdToReclaim - TestGetReclaimableThreshold "no thresholds": none', () => {
      expect(thresholdToReclaim([])).toBeUndefined();
    });
  });

  describe('ParseThresholdConfig (TestParseThresholdConfig, TestParsePercentage) through parseThresholds and evictionThresholds', () => {
    /** ParseThresholdConfig from the Go table's maps (the allocatable config aside: splitlet has no allocatableMemory.available). */
    const parseConfig = (c: { hard?: Record<string, string>; soft?: Record<string, string>; grace?: Record<string, string>; minReclaim?: Record<string, string> }) => {
      const join = (m: Record<string, string> | undefined, op: string) =>
        Object.entries(m ?? {})
          .map(([k, v]) => `${k}${op}${v}`)
          .join(',');
      return evictionThresholds({
        hard: parseThresholds(join(c.hard, '<')),
        soft: parseThresholds(join(c.soft, '<')),
        softGracePeriods: parseGracePeriods(join(c.grace, '=')),
        minimumReclaims: parseMinimumReclaims(join(c.minReclaim, '=')),
      });
    };
    const gracePeriodMs = 30_000;

    it('evictionThresholds - TestParseThresholdConfig "no values"', () => {
      expect(parseConfig({})).toEqual([]);
    });

    it('evictionThresholds - TestParseThresholdConfig "all memory eviction values in percentages"', () => {
      expect(parseConfig({ hard: { 'memory.available': '10%' }, soft: { 'memory.available': '30%' }, grace: { 'memory.available': '30s' }, minReclaim: { 'memory.available': '5%' } })).toEqual([
        { signal: 'memory.available', percentage: Math.fround(0.1), minReclaim: { percentage: Math.fround(0.05) } },
        { signal: 'memory.available', percentage: Math.fround(0.3), gracePeriodMs, minReclaim: { percentage: Math.fround(0.05) } },
      ]);
    });

    it('evictionThresholds - TestParseThresholdConfig "disk eviction values"', () => {
      const Mi = value('1Mi');
      const Gi = value('1Gi');
      expect(
        parseConfig({
          hard: { 'imagefs.available': '150Mi', 'nodefs.available': '100Mi' },
          soft: { 'imagefs.available': '300Mi', 'nodefs.available': '200Mi' },
          grace: { 'imagefs.available': '30s', 'nodefs.available': '30s' },
          minReclaim: { 'imagefs.available': '2Gi', 'nodefs.available': '1Gi' },
        }),
      ).toEqual([
        { signal: 'imagefs.available', quantity: 150n * Mi, format: 'BinarySI', minReclaim: { quantity: 2n * Gi, format: 'BinarySI' } },
        { signal: 'nodefs.available', quantity: 100n * Mi, format: 'BinarySI', minReclaim: { quantity: Gi, format: 'BinarySI' } },
        { signal: 'imagefs.available', quantity: 300n * Mi, format: 'BinarySI', gracePeriodMs, minReclaim: { quantity: 2n * Gi, format: 'BinarySI' } },
        { signal: 'nodefs.available', quantity: 200n * Mi, format: 'BinarySI', gracePeriodMs, minReclaim: { quantity: Gi, format: 'BinarySI' } },
      ]);
    });

    it('evictionThresholds - TestParseThresholdConfig "disk eviction values in percentages" (float32 percentages: 10.5% is float32(0.105))', () => {
      expect(
        parseConfig({
          hard: { 'imagefs.available': '15%', 'nodefs.available': '10.5%' },
          soft: { 'imagefs.available': '30%', 'nodefs.available': '20.5%' },
          grace: { 'imagefs.available': '30s', 'nodefs.available': '30s' },
          minReclaim: { 'imagefs.available': '10%', 'nodefs.available': '5%' },
        }),
      ).toEqual([
        { signal: 'imagefs.available', percentage: Math.fround(0.15), minReclaim: { percentage: Math.fround(0.1) } },
        { signal: 'nodefs.available', percentage: Math.fround(0.105), minReclaim: { percentage: Math.fround(0.05) } },
        { signal: 'imagefs.available', percentage: Math.fround(0.3), gracePeriodMs, minReclaim: { percentage: Math.fround(0.1) } },
        { signal: 'nodefs.available', percentage: Math.fround(0.205), gracePeriodMs, minReclaim: { percentage: Math.fround(0.05) } },
      ]);
    });

    it('evictionThresholds - TestParseThresholdConfig "inode eviction values"', () => {
      const Mi = value('1Mi');
      const Gi = value('1Gi');
      expect(
        parseConfig({
          hard: { 'imagefs.inodesFree': '150Mi', 'nodefs.inodesFree': '100Mi' },
          soft: { 'imagefs.inodesFree': '300Mi', 'nodefs.inodesFree': '200Mi' },
          grace: { 'imagefs.inodesFree': '30s', 'nodefs.inodesFree': '30s' },
          minReclaim: { 'imagefs.inodesFree': '2Gi', 'nodefs.inodesFree': '1Gi' },
        }),
      ).toEqual([
        { signal: 'imagefs.inodesFree', quantity: 150n * Mi, format: 'BinarySI', minReclaim: { quantity: 2n * Gi, format: 'BinarySI' } },
        { signal: 'nodefs.inodesFree', quantity: 100n * Mi, format: 'BinarySI', minReclaim: { quantity: Gi, format: 'BinarySI' } },
        { signal: 'imagefs.inodesFree', quantity: 300n * Mi, format: 'BinarySI', gracePeriodMs, minReclaim: { quantity: 2n * Gi, format: 'BinarySI' } },
        { signal: 'nodefs.inodesFree', quantity: 200n * Mi, format: 'BinarySI', gracePeriodMs, minReclaim: { quantity: Gi, format: 'BinarySI' } },
      ]);
    });

    it('evictionThresholds - TestParseThresholdConfig "disable via 0%" and "disable via 100%": no thresholds, no error', () => {
      expect(parseConfig({ hard: { 'memory.available': '0%' }, soft: { 'memory.available': '0%' } })).toEqual([]);
      expect(parseConfig({ hard: { 'memory.available': '100%' }, soft: { 'memory.available': '100%' } })).toEqual([]);
    });

    const errorCases: { name: string; config: Parameters<typeof parseConfig>[0] }[] = [
      { name: 'invalid-signal', config: { hard: { 'mem.available': '150Mi' } } },
      { name: 'hard-signal-negative', config: { hard: { 'memory.available': '-150Mi' } } },
      { name: 'hard-signal-negative-percentage', config: { hard: { 'memory.available': '-15%' } } },
      { name: 'hard-signal-percentage-greater-than-100%', config: { hard: { 'memory.available': '150%' } } },
      { name: 'soft-signal-negative', config: { soft: { 'memory.available': '-150Mi' } } },
      { name: 'valid-and-invalid-signal', config: { hard: { 'memory.available': '150Mi', 'invalid.foo': '150Mi' } } },
      { name: 'soft-no-grace-period', config: { soft: { 'memory.available': '150Mi' } } },
      { name: 'soft-negative-grace-period', config: { soft: { 'memory.available': '150Mi' }, grace: { 'memory.available': '-30s' } } },
      { name: 'negative-reclaim', config: { minReclaim: { 'memory.available': '-300Mi' } } },
      { name: 'min-reclaim-invalid-signal', config: { minReclaim: { 'mem.available': '300Mi' } } },
      { name: 'min-reclaim-empty-value', config: { minReclaim: { 'memory.available': '' } } },
      { name: 'min-reclaim-negative-percentage', config: { minReclaim: { 'memory.available': '-15%' } } },
      { name: 'min-reclaim-invalid-percentage', config: { minReclaim: { 'memory.available': '10..5%' } } },
      { name: 'hard-signal-empty-eviction-value', config: { hard: { 'memory.available': '' } } },
      { name: 'hard-signal-invalid-float-percentage', config: { hard: { 'memory.available': '10..5%' } } },
      { name: 'soft-grace-period-invalid-signal', config: { soft: { 'memory.available': '150Mi' }, grace: { 'mem.available': '30s' } } },
      { name: 'soft-invalid-grace-period', config: { soft: { 'memory.available': '150Mi' }, grace: { 'memory.available': '30mins' } } },
    ];
    for (const tc of errorCases) {
      it(`evictionThresholds - TestParseThresholdConfig "${tc.name}" is refused`, () => {
        expect(() => parseConfig(tc.config)).toThrow();
      });
    }

    it('parseThresholds - TestParsePercentage: "25.5%" is float32(0.255); "blah", "foo%" and "12%345" are refused', () => {
      expect(parseThresholds('memory.available<25.5%')).toEqual([{ signal: 'memory.available', percentage: Math.fround(0.255) }]);
      for (const bad of ['blah', 'foo%', '12%345']) expect(() => parseThresholds(`memory.available<${bad}`), bad).toThrow();
    });
  });
});

describe('Admit under node conditions (eviction_manager_test.go) through admitUnderPressure', () => {
  /** makeContainersByQOS */
  const containersByQOS = (qos: 'Guaranteed' | 'Burstable' | 'BestEffort'): V1Container[] => {
    const resources = newResourceList('100m', '1Gi', '');
    if (qos === 'Guaranteed') return [newContainer('guaranteed-container', resources, resources)];
    if (qos === 'Burstable') return [newContainer('burtable-container', resources)];
    return [newContainer('best-effort-container')];
  };
  // scheduling.DefaultPriorityWhenNoDefaultClassExists
  const pods = [newPod('guaranteed-pod', 0, containersByQOS('Guaranteed')), newPod('burstable-pod', 0, containersByQOS('Burstable')), newPod('best-effort-pod', 0, containersByQOS('BestEffort'))];
  const admitted = (conditions: string[]) => pods.map((p) => admitUnderPressure(p, conditions) === undefined);

  it('admitUnderPressure - TestAdmitUnderNodeConditions: no condition admits every pod', () => {
    expect(admitted([])).toEqual([true, true, true]);
  });

  it('admitUnderPressure - TestAdmitUnderNodeConditions: MemoryPressure refuses only the best-effort pod', () => {
    expect(admitted(['MemoryPressure'])).toEqual([true, true, false]);
    expect(admitUnderPressure(pods[2]!, ['MemoryPressure'])).toBe('The node had condition: [MemoryPressure]. ');
  });

  it('admitUnderPressure - TestAdmitUnderNodeConditions: MemoryPressure and DiskPressure refuse every pod', () => {
    expect(admitted(['MemoryPressure', 'DiskPressure'])).toEqual([false, false, false]);
    expect(admitUnderPressure(pods[0]!, ['MemoryPressure', 'DiskPressure'])).toBe('The node had condition: [MemoryPressure DiskPressure]. ');
  });

  it('admitUnderPressure - TestDiskPressureNodeFs / TestInodePressureFsInodes: under DiskPressure the pod to admit is refused', () => {
    const podToAdmit = newPod('pod-to-admit', defaultPriority, [newContainer('pod-to-admit', newResourceList('', '', ''), newResourceList('', '', ''))]);
    expect(admitUnderPressure(podToAdmit, ['DiskPressure'])).toBe('The node had condition: [DiskPressure]. ');
    expect(admitUnderPressure(podToAdmit, [])).toBeUndefined();
  });

  it('admitUnderPressure - TestMemoryPressure: the burstable pod to admit is admitted under MemoryPressure, the best-effort one refused', () => {
    const bestEffortPodToAdmit = newPod('best-admit', defaultPriority, [newContainer('best-admit', newResourceList('', '', ''), newResourceList('', '', ''))]);
    const burstablePodToAdmit = newPod('burst-admit', defaultPriority, [newContainer('burst-admit', newResourceList('100m', '100Mi', ''), newResourceList('200m', '200Mi', ''))]);
    expect([bestEffortPodToAdmit, burstablePodToAdmit].map((p) => admitUnderPressure(p, ['MemoryPressure']) === undefined)).toEqual([false, true]);
  });
});

describe('isCriticalPod (eviction_manager_test.go TestStaticCriticalPodsAreNotEvicted)', () => {
  it('isCriticalPod - a static (file-source) pod of system-critical priority in kube-system is critical; still critical with its priority unset', () => {
    const pod = newPod('critical', SYSTEM_CRITICAL_PRIORITY, [newContainer('critical', newResourceList('100m', '1Gi', ''), newResourceList('100m', '1Gi', ''))]);
    pod.metadata!.annotations = { 'kubernetes.io/config.source': 'file' };
    pod.metadata!.namespace = 'kube-system';
    expect(isCriticalPod(pod)).toBe(true);
    delete pod.spec!.priority;
    expect(isCriticalPod(pod)).toBe(true);
  });
});

describe('evictionMessageAndAnnotations: what the Evicted Event carries beyond the Go table', () => {
  const pod = newPod('p', defaultPriority, [newContainer('app', newResourceList('', '', '100Mi'))]);
  it('no stats for the pod (statsFunc not ok): the message and no annotations at all', () => {
    expect(evictionMessageAndAnnotations('memory', { pod, containers: new Map(), requestBytes: 0n }, undefined, 0n, 0n)).toEqual({ message: 'The node was low on resource: memory. ', annotations: {} });
  });
  it('pids: no container is named; the keys are there, empty, with the starved resource', () => {
    const u: PodUsage = { pod, usageBytes: 40n, containers: new Map([['app', 40n]]), requestBytes: 0n };
    expect(evictionMessageAndAnnotations('pids', u, undefined, 0n, 0n).annotations).toEqual({ offending_containers: '', offending_containers_usage: '', starved_resource: 'pids' });
  });
  it('ephemeral-storage: the container over its request, usage as a BinarySI quantity', () => {
    const u: PodUsage = { pod, usageBytes: value('300Mi'), containers: new Map([['app', value('300Mi')]]), requestBytes: 0n };
    expect(evictionMessageAndAnnotations('ephemeral-storage', u, undefined, 0n, 0n).annotations).toEqual({ offending_containers: 'app', offending_containers_usage: '300Mi', starved_resource: 'ephemeral-storage' });
  });
});
