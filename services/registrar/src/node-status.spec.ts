import { create } from '@bufbuild/protobuf';
import { describe, expect, it } from 'vitest';
import { ImageSchema } from '@splitlet/contracts';
import { parseResourceList } from '@splitlet/quantity';
import { healthyInputs } from './__fixtures__/inputs';
import { DEFAULT_EVICTION_HARD, evictionThresholds, parseGracePeriods, parseThresholds } from '@splitlet/eviction';
import { buildNodeStatus, nodeStatusChanged, PRESSURE_TRANSITION_PERIOD_MS, PressureTracker, type StatusSettings } from './node-status';

const settings: StatusSettings = {
  nodeName: 'node-a',
  kubeletVersion: 'v0.1.0-splitlet',
  kubeletPort: 10250,
  maxPods: 110,
  systemReserved: {},
  kubeReserved: {},
  evictionHard: parseThresholds(DEFAULT_EVICTION_HARD),
};
const T0 = Date.UTC(2026, 10, 28, 12, 0, 0);
const iso = (ms: number) => new Date(ms).toISOString();
const condition = (s: ReturnType<typeof buildNodeStatus>, type: string) => s.conditions?.find((c) => c.type === type);
const roundTrip = <T>(v: T): T => JSON.parse(JSON.stringify(v)) as T;

describe('registrar buildNodeStatus', () => {
  it('buildNodeStatus - a healthy new node: conditions in the kubelet order, Ready with its reason', () => {
    const s = buildNodeStatus(undefined, healthyInputs(), settings, new PressureTracker(), T0);
    expect(s.conditions?.map((c) => [c.type, c.status, c.reason, c.message])).toEqual([
      ['MemoryPressure', 'False', 'KubeletHasSufficientMemory', 'kubelet has sufficient memory available'],
      ['DiskPressure', 'False', 'KubeletHasNoDiskPressure', 'kubelet has no disk pressure'],
      ['PIDPressure', 'False', 'KubeletHasSufficientPID', 'kubelet has sufficient PID available'],
      ['Ready', 'True', 'KubeletReady', 'kubelet is posting ready status'],
    ]);
    for (const c of s.conditions ?? []) {
      expect(iso(new Date(c.lastHeartbeatTime!).getTime())).toBe(iso(T0));
      expect(iso(new Date(c.lastTransitionTime!).getTime())).toBe(iso(T0));
    }
  });

  it('buildNodeStatus - capacity from the machine, allocatable less the hard eviction thresholds', () => {
    const s = buildNodeStatus(undefined, healthyInputs(), settings, new PressureTracker(), T0);
    expect(s.capacity).toEqual({ cpu: '4', memory: '16305692Ki', pods: '110', 'ephemeral-storage': '100Gi' });
    // memory - 100Mi; ephemeral-storage - int64(100Gi * float32(0.1))
    expect(s.allocatable).toEqual({ cpu: '4', memory: '16203292Ki', pods: '110', 'ephemeral-storage': '96636764000' });
  });

  it('buildNodeStatus - system and kube reservations come off allocatable', () => {
    const s = buildNodeStatus(
      undefined,
      healthyInputs(),
      { ...settings, systemReserved: parseResourceList('cpu=500m,memory=1Gi'), kubeReserved: parseResourceList('cpu=500m'), evictionHard: [] },
      new PressureTracker(),
      T0,
    );
    expect(s.allocatable).toMatchObject({ cpu: '3', memory: '15257116Ki', 'ephemeral-storage': '100Gi' });
  });

  it('buildNodeStatus - node info, addresses and the daemon endpoint', () => {
    const s = buildNodeStatus(undefined, healthyInputs(), settings, new PressureTracker(), T0);
    expect(s.addresses).toEqual([
      { type: 'InternalIP', address: '192.0.2.10' },
      { type: 'Hostname', address: 'node-a' },
    ]);
    expect(s.nodeInfo).toEqual({
      machineID: 'machine-1',
      systemUUID: 'uuid-1',
      bootID: 'boot-1',
      kernelVersion: '6.1.0-test',
      osImage: 'Debian GNU/Linux 12 (bookworm)',
      containerRuntimeVersion: 'docker://20.10.24',
      kubeletVersion: 'v0.1.0-splitlet',
      kubeProxyVersion: '',
      operatingSystem: 'linux',
      architecture: 'amd64',
    });
    expect(s.daemonEndpoints).toEqual({ kubeletEndpoint: { Port: 10250 } });
  });

  it('buildNodeStatus - images: largest first, at most 50, at most 5 names (digests then tags)', () => {
    const images = Array.from({ length: 60 }, (_, i) =>
      create(ImageSchema, { id: `sha256:${String(i).padStart(2, '0')}`, repoTags: [`img:${i}`, 'a', 'b', 'c'], repoDigests: [`img@sha256:${i}`, 'd'], size: BigInt(i) }),
    );
    const s = buildNodeStatus(undefined, healthyInputs({ images }), settings, new PressureTracker(), T0);
    expect(s.images).toHaveLength(50);
    expect(s.images?.[0]).toEqual({ names: ['img@sha256:59', 'd', 'img:59', 'a', 'b'], sizeBytes: 59 });
    expect(s.images?.[49]?.sizeBytes).toBe(10);
  });

  it('buildNodeStatus - an unchanged node: heartbeats move, transition times stay, nothing counts as changed', () => {
    const p = new PressureTracker();
    const first = roundTrip(buildNodeStatus(undefined, healthyInputs(), settings, p, T0));
    const second = buildNodeStatus(first, healthyInputs(), settings, p, T0 + 10_000);
    expect(iso(new Date(condition(second, 'Ready')!.lastHeartbeatTime!).getTime())).toBe(iso(T0 + 10_000));
    expect(iso(new Date(condition(second, 'Ready')!.lastTransitionTime!).getTime())).toBe(iso(T0));
    expect(nodeStatusChanged(first, second)).toBe(false);
  });

  it('nodeStatusChanged - an image without names reads back without `names`: no change', () => {
    const p = new PressureTracker();
    const images = [create(ImageSchema, { id: 'sha256:dangling', size: 10n })];
    const first = buildNodeStatus(undefined, healthyInputs({ images }), settings, p, T0);
    const readBack = roundTrip(first);
    for (const i of readBack.images ?? []) if (i.names?.length === 0) delete i.names;
    expect(nodeStatusChanged(readBack, buildNodeStatus(readBack, healthyInputs({ images }), settings, p, T0 + 10_000))).toBe(false);
  });

  it('buildNodeStatus - runtime-executor down: NotReady with the kubelet reason, a new transition time, a change', () => {
    const p = new PressureTracker();
    const first = roundTrip(buildNodeStatus(undefined, healthyInputs(), settings, p, T0));
    const down = buildNodeStatus(first, healthyInputs({ runtime: { state: 'unreachable', message: 'runtime-executor is not running (no responders)' } }), settings, p, T0 + 10_000);
    expect(condition(down, 'Ready')).toMatchObject({
      status: 'False',
      reason: 'KubeletNotReady',
      message: 'container runtime is down: runtime-executor is not running (no responders)',
    });
    expect(iso(new Date(condition(down, 'Ready')!.lastTransitionTime!).getTime())).toBe(iso(T0 + 10_000));
    expect(nodeStatusChanged(first, down)).toBe(true);
    expect(down.nodeInfo?.containerRuntimeVersion).toBe('docker://Unknown');
  });

  it('buildNodeStatus - several reasons are joined as the kubelet aggregates errors', () => {
    const inputs = healthyInputs({ missingServices: ['pod-sync'] });
    inputs.runtime = {
      ...(inputs.runtime as Extract<typeof inputs.runtime, { state: 'answered' }>),
      conditions: [
        { $typeName: 'splitlet.runtime.v1.RuntimeCondition', type: 'RuntimeReady', status: false, reason: 'DockerUnreachable', message: 'docker: connect ENOENT' },
      ],
    };
    const s = buildNodeStatus(undefined, inputs, settings, new PressureTracker(), T0);
    expect(condition(s, 'Ready')?.message).toBe(
      '[container runtime not ready: RuntimeReady=false reason:DockerUnreachable message:docker: connect ENOENT, network state unknown, pod-sync is not running: no pod-sync service answers for this node]',
    );
  });

  it('buildNodeStatus - PLEG not healthy: NotReady in the kubelet\'s words, after the runtime\'s status and before its conditions', () => {
    const pleg = 'pleg was last seen active 3m0.5s ago; threshold is 3m0s';
    const hung = buildNodeStatus(undefined, healthyInputs({ plegUnhealthy: pleg }), settings, new PressureTracker(), T0);
    expect(condition(hung, 'Ready')).toMatchObject({ status: 'False', reason: 'KubeletNotReady', message: `PLEG is not healthy: ${pleg}` });
    const down = healthyInputs({ plegUnhealthy: 'pleg has yet to be successful', runtime: { state: 'unreachable', message: 'runtime-executor is not running (no responders)' } });
    expect(condition(buildNodeStatus(undefined, down, settings, new PressureTracker(), T0), 'Ready')?.message).toBe(
      '[container runtime is down: runtime-executor is not running (no responders), PLEG is not healthy: pleg has yet to be successful]',
    );
    const notReady = healthyInputs({ plegUnhealthy: pleg });
    notReady.runtime = {
      ...(notReady.runtime as Extract<typeof notReady.runtime, { state: 'answered' }>),
      conditions: [{ $typeName: 'splitlet.runtime.v1.RuntimeCondition', type: 'RuntimeReady', status: false, reason: 'DockerUnreachable', message: 'docker: connect ENOENT' }],
    };
    expect(condition(buildNodeStatus(undefined, notReady, settings, new PressureTracker(), T0), 'Ready')?.message).toBe(
      `[PLEG is not healthy: ${pleg}, container runtime not ready: RuntimeReady=false reason:DockerUnreachable message:docker: connect ENOENT, network state unknown]`,
    );
  });

  it('buildNodeStatus - a node shutting down is NotReady: "node is shutting down", after the runtime\'s errors and before a missing capacity', () => {
    const shutting = buildNodeStatus(undefined, healthyInputs({ shuttingDown: true }), settings, new PressureTracker(), T0);
    expect(condition(shutting, 'Ready')).toMatchObject({ status: 'False', reason: 'KubeletNotReady', message: 'node is shutting down' });
    const { imageFs: _none, ...noDisk } = healthyInputs({ shuttingDown: true, missingServices: ['prober'] });
    expect(condition(buildNodeStatus(undefined, noDisk, settings, new PressureTracker(), T0), 'Ready')?.message).toBe(
      '[prober is not running: no prober service answers for this node, node is shutting down, missing node capacity for resources: ephemeral-storage]',
    );
    // Cancelled (or over): Ready again.
    expect(condition(buildNodeStatus(shutting, healthyInputs({ shuttingDown: false }), settings, new PressureTracker(), T0 + 10_000), 'Ready')).toMatchObject({ status: 'True', reason: 'KubeletReady' });
  });

  it('buildNodeStatus - no image filesystem yet: NotReady for the missing ephemeral-storage capacity', () => {
    const { imageFs: _none, ...inputs } = healthyInputs();
    const s = buildNodeStatus(undefined, inputs, settings, new PressureTracker(), T0);
    expect(condition(s, 'Ready')?.message).toBe('missing node capacity for resources: ephemeral-storage');
    expect(s.capacity).not.toHaveProperty('ephemeral-storage');
    // Nothing measured is no pressure (the kubelet's eviction manager before its first observation): never Unknown.
    expect(condition(s, 'DiskPressure')).toMatchObject({ status: 'False', reason: 'KubeletHasNoDiskPressure', message: 'kubelet has no disk pressure' });
  });

  it('buildNodeStatus - nothing measured yet: each pressure condition False with the kubelet\'s reason; a measured one kept while measures are missing', () => {
    const { imageFs: _fs, measurements: _m, ...inputs } = healthyInputs();
    const p = new PressureTracker();
    const s = roundTrip(buildNodeStatus(undefined, inputs, settings, p, T0));
    for (const type of ['MemoryPressure', 'DiskPressure', 'PIDPressure']) expect(condition(s, type)?.status, type).toBe('False');
    // The node lifecycle controller marked them Unknown while the node was away; still nothing measured.
    const marked = { ...s, conditions: s.conditions!.map((c) => (c.type === 'Ready' ? c : { ...c, status: 'Unknown', reason: 'NodeStatusUnknown' })) };
    const back = buildNodeStatus(marked, inputs, settings, p, T0 + 10_000);
    expect(condition(back, 'DiskPressure')).toMatchObject({ status: 'False', reason: 'KubeletHasNoDiskPressure' });
  });

  it('buildNodeStatus - memory pressure is reported, and held for the transition period after it ends', () => {
    const p = new PressureTracker();
    const low = healthyInputs();
    low.measurements = { ...low.measurements!, memoryAvailableBytes: 50n * 1024n * 1024n };
    const s1 = roundTrip(buildNodeStatus(undefined, low, settings, p, T0));
    expect(condition(s1, 'MemoryPressure')).toMatchObject({ status: 'True', reason: 'KubeletHasInsufficientMemory', message: 'kubelet has insufficient memory available' });
    const s2 = roundTrip(buildNodeStatus(s1, healthyInputs(), settings, p, T0 + PRESSURE_TRANSITION_PERIOD_MS - 1000));
    expect(condition(s2, 'MemoryPressure')?.status).toBe('True');
    const s3 = buildNodeStatus(s2, healthyInputs(), settings, p, T0 + PRESSURE_TRANSITION_PERIOD_MS);
    expect(condition(s3, 'MemoryPressure')).toMatchObject({ status: 'False', reason: 'KubeletHasSufficientMemory' });
    expect(condition(s3, 'Ready')?.status).toBe('True');
  });

  it('buildNodeStatus - allocatableMemory.available (--enforce-node-allocatable=pods): MemoryPressure when the pods use more than capacity less the reserved memory, less the hard threshold, while the node itself has plenty', () => {
    const Mi = 1024n * 1024n;
    const enforced: StatusSettings = {
      ...settings,
      systemReserved: parseResourceList('memory=4Gi'),
      kubeReserved: parseResourceList('memory=1Gi'),
      evictionThresholds: evictionThresholds({ hard: parseThresholds(DEFAULT_EVICTION_HARD), soft: [], softGracePeriods: new Map(), minimumReclaims: new Map(), enforceNodeAllocatable: ['pods'] }),
    };
    const inputs = healthyInputs(); // 8 GiB of the node's 16_697_028_608 bytes available
    const podsLimit = inputs.measurements!.memoryCapacityBytes - 5n * 1024n * Mi;
    inputs.podsWorkingSetBytes = podsLimit - 101n * Mi;
    expect(condition(buildNodeStatus(undefined, inputs, enforced, new PressureTracker(), T0), 'MemoryPressure')?.status).toBe('False');
    inputs.podsWorkingSetBytes = podsLimit - 99n * Mi;
    expect(condition(buildNodeStatus(undefined, inputs, enforced, new PressureTracker(), T0), 'MemoryPressure')).toMatchObject({ status: 'True', reason: 'KubeletHasInsufficientMemory' });
    // Not enforced (the thresholds without the allocatable one), or no stats from the runtime: no such signal.
    expect(condition(buildNodeStatus(undefined, inputs, { ...enforced, evictionThresholds: undefined }, new PressureTracker(), T0), 'MemoryPressure')?.status).toBe('False');
    delete inputs.podsWorkingSetBytes;
    expect(condition(buildNodeStatus(undefined, inputs, enforced, new PressureTracker(), T0), 'MemoryPressure')?.status).toBe('False');
  });

  it('buildNodeStatus - disk pressure when the Docker filesystem is under nodefs.available', () => {
    const inputs = healthyInputs();
    inputs.imageFs = { ...inputs.imageFs!, availableBytes: 5n * 1024n ** 3n };
    const s = buildNodeStatus(undefined, inputs, settings, new PressureTracker(), T0);
    expect(condition(s, 'DiskPressure')).toMatchObject({ status: 'True', reason: 'KubeletHasDiskPressure', message: 'kubelet has disk pressure' });
  });

  it('buildNodeStatus - a soft threshold sets MemoryPressure at once (its grace period is eviction\'s), held for the configured transition period', () => {
    const soft: StatusSettings = {
      ...settings,
      evictionThresholds: evictionThresholds({
        hard: parseThresholds(DEFAULT_EVICTION_HARD),
        soft: parseThresholds('memory.available<2Gi'),
        softGracePeriods: parseGracePeriods('memory.available=1m'),
        minimumReclaims: new Map(),
      }),
    };
    const p = new PressureTracker(30_000);
    const low = healthyInputs();
    low.measurements = { ...low.measurements!, memoryAvailableBytes: 1024n ** 3n };
    const s1 = roundTrip(buildNodeStatus(undefined, low, soft, p, T0));
    expect(condition(s1, 'MemoryPressure')).toMatchObject({ status: 'True', reason: 'KubeletHasInsufficientMemory' });
    // The hard thresholds alone see no pressure at 1 GiB available.
    expect(condition(buildNodeStatus(undefined, low, settings, new PressureTracker(), T0), 'MemoryPressure')?.status).toBe('False');
    const s2 = roundTrip(buildNodeStatus(s1, healthyInputs(), soft, p, T0 + 29_000));
    expect(condition(s2, 'MemoryPressure')?.status).toBe('True');
    expect(condition(buildNodeStatus(s2, healthyInputs(), soft, p, T0 + 30_000), 'MemoryPressure')?.status).toBe('False');
  });

  it('buildNodeStatus - leaves the previous status as it was (it is the watch cache\'s object)', () => {
    const prev = roundTrip(buildNodeStatus(undefined, healthyInputs(), settings, new PressureTracker(), T0));
    const before = structuredClone(prev);
    const low = healthyInputs({ missingServices: ['pod-sync'] });
    low.measurements = { ...low.measurements!, memoryAvailableBytes: 50n * 1024n * 1024n };
    const next = buildNodeStatus(prev, low, settings, new PressureTracker(), T0 + 10_000);
    expect(condition(next, 'MemoryPressure')?.status).toBe('True');
    expect(prev).toEqual(before);
  });
});

