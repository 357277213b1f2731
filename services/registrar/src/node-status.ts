import type { V1ContainerImage, V1NodeCondition, V1NodeStatus } from '@kubernetes/client-node';
import type { FilesystemUsage, Image, RuntimeCondition, VersionResponse } from '@splitlet/contracts';
import { formatQuantity, parseQuantity, units } from '@splitlet/quantity';
import { allocatableMemoryObservation, SIGNAL_CONDITION, thresholdAmount, ThresholdTracker, type Observations, type Signal, type Threshold } from '@splitlet/eviction';
import type { HostFacts, HostMeasurements } from './host-facts';
import { notRunningMessage, type RequiredService } from './required-services';
import { NODE_SHUTTING_DOWN } from './node-shutdown';

/** What the registrar has learned of the runtime from runtime-executor. */
export type RuntimeView =
  | { state: 'unknown' }
  | { state: 'unreachable'; message: string }
  | { state: 'answered'; version: VersionResponse; conditions: RuntimeCondition[] };

/** Everything a node status is computed from, gathered before each update. */
export interface NodeInputs {
  facts: HostFacts;
  measurements?: HostMeasurements;
  runtime: RuntimeView;
  images?: Image[];
  imageFs?: FilesystemUsage;
  /** The working set of the node's containers together (runtime-executor's stats): the pods' memory use. */
  podsWorkingSetBytes?: bigint;
  /** The PLEG health check's error (its relists hang or fail), as GenericPLEG.Healthy words it; unset: healthy. */
  plegUnhealthy?: string;
  /** The required services (in the setting's order) that have not answered for this node within the threshold. */
  missingServices: RequiredService[];
  /** Whether the node is shutting down (pod-sync's node shutdown manager). */
  shuttingDown?: boolean;
}

export interface StatusSettings {
  nodeName: string;
  kubeletVersion: string;
  kubeletPort: number;
  maxPods: number;
  /** milli-units per resource */
  systemReserved: Record<string, bigint>;
  kubeReserved: Record<string, bigint>;
  /** --eviction-hard alone: what allocatable holds back. */
  evictionHard: Threshold[];
  /** Every threshold, hard and soft, with grace periods and minimum reclaims (unset: evictionHard's). */
  evictionThresholds?: Threshold[];
  /** --eviction-pressure-transition-period (unset: the kubelet's 5 min). */
  pressureTransitionPeriodMs?: number;
}

/** The kubelet's limits on status.images (nodeStatusMaxImages, MaxNamesPerImageInNodeStatus). */
export const MAX_IMAGES = 50;
export const MAX_NAMES_PER_IMAGE = 5;

/** evictionPressureTransitionPeriod: a pressure condition holds this long after its signal was last met. */
export const PRESSURE_TRANSITION_PERIOD_MS = 5 * 60_000;

const CONDITIONS = {
  MemoryPressure: {
    ok: ['KubeletHasSufficientMemory', 'kubelet has sufficient memory available'],
    bad: ['KubeletHasInsufficientMemory', 'kubelet has insufficient memory available'],
  },
  DiskPressure: {
    ok: ['KubeletHasNoDiskPressure', 'kubelet has no disk pressure'],
    bad: ['KubeletHasDiskPressure', 'kubelet has disk pressure'],
  },
  PIDPressure: {
    ok: ['KubeletHasSufficientPID', 'kubelet has sufficient PID available'],
    bad: ['KubeletHasInsufficientPID', 'kubelet has insufficient PID available'],
  },
} as const;
type PressureType = keyof typeof CONDITIONS;

/**
 * The eviction manager's view of the node's pressure, for the conditions: its threshold
 * bookkeeping (ThresholdTracker: soft thresholds count at once for the conditions,
 * acted-on ones hold until their minimum reclaim), and when each condition was last met,
 * so it holds for the transition period after it.
 */
export class PressureTracker {
  private lastMet: Partial<Record<PressureType, number>> = {};
  private tracker?: { thresholds: readonly Threshold[]; tracker: ThresholdTracker };

  constructor(private readonly transitionMs = PRESSURE_TRANSITION_PERIOD_MS) {}

  /** One look at the signals: whether each condition holds (undefined: its signals were not measured). */
  look(thresholds: readonly Threshold[], observations: Observations, now: number): Record<PressureType, boolean | undefined> {
    if (this.tracker?.thresholds !== thresholds) this.tracker = { thresholds, tracker: new ThresholdTracker(thresholds) };
    const { met } = this.tracker.tracker.observe(observations, now);
    const measured = new Set(Object.keys(observations).map((s) => SIGNAL_CONDITION[s as Signal]));
    const out = {} as Record<PressureType, boolean | undefined>;
    for (const type of Object.keys(CONDITIONS) as PressureType[]) {
      out[type] = this.observe(type, measured.has(type) ? met.some((t) => SIGNAL_CONDITION[t.signal] === type) : undefined, now);
    }
    return out;
  }

  /** Records an observation (undefined: nothing measured) and says if the node is under pressure. */
  observe(type: PressureType, met: boolean | undefined, now: number): boolean | undefined {
    if (met) this.lastMet[type] = now;
    const last = this.lastMet[type];
    if (last !== undefined && now - last < this.transitionMs) return true;
    return met;
  }
}

/**
 * Computes the node's status as the kubelet's setters do (pkg/kubelet/nodestatus),
 * from the previous status (for transition times and fields it keeps) and inputs.
 */
export function buildNodeStatus(
  prev: V1NodeStatus | undefined,
  inputs: NodeInputs,
  settings: StatusSettings,
  pressure: PressureTracker,
  nowMs: number,
): V1NodeStatus {
  const now = new Date(Math.floor(nowMs / 1000) * 1000); // metav1.Time has second precision
  const capacity = buildCapacity(prev, inputs, settings);
  const allocatable = buildAllocatable(capacity, settings);
  const { facts } = inputs;

  // Copies: the setters below change conditions in place, and prev is the caller's (the watch cache's) object.
  const conditions = (prev?.conditions ?? []).map((c) => ({ ...c }));
  const m = inputs.measurements;
  const fs = inputs.imageFs;
  const observations: Observations = {};
  if (m) {
    observations['memory.available'] = { available: m.memoryAvailableBytes, capacity: m.memoryCapacityBytes };
    observations['pid.available'] = { available: m.pidAvailable, capacity: m.pidMax };
    if (inputs.podsWorkingSetBytes !== undefined) {
      observations['allocatableMemory.available'] = allocatableMemoryObservation(m.memoryCapacityBytes, reservedMemoryBytes(settings), inputs.podsWorkingSetBytes);
    }
  }
  if (fs) {
    // Docker's data root holds images and containers' layers alike: nodefs and imagefs are one filesystem here.
    observations['nodefs.available'] = observations['imagefs.available'] = { available: fs.availableBytes, capacity: fs.capacityBytes };
    observations['nodefs.inodesFree'] = observations['imagefs.inodesFree'] = { available: fs.inodesFree, capacity: fs.inodes };
  }
  const under = pressure.look(statusThresholds(settings), observations, nowMs);
  setPressure(conditions, 'MemoryPressure', under.MemoryPressure, now);
  setPressure(conditions, 'DiskPressure', under.DiskPressure, now);
  setPressure(conditions, 'PIDPressure', under.PIDPressure, now);
  setReady(conditions, readyErrors(inputs, capacity), now);

  const runtime = inputs.runtime.state === 'answered' ? inputs.runtime.version : undefined;
  const previousScheme = prev?.nodeInfo?.containerRuntimeVersion?.split('://')[0];
  return {
    addresses: [
      { type: 'InternalIP', address: facts.internalIP },
      { type: 'Hostname', address: facts.hostname },
    ],
    capacity: formatResources(capacity),
    allocatable: formatResources(allocatable),
    conditions,
    daemonEndpoints: { kubeletEndpoint: { Port: settings.kubeletPort } },
    nodeInfo: {
      machineID: facts.machineID,
      systemUUID: facts.systemUUID,
      bootID: facts.bootID,
      kernelVersion: facts.kernelVersion,
      osImage: facts.osImage,
      containerRuntimeVersion: `${runtime?.runtimeName ?? previousScheme ?? 'docker'}://${runtime?.runtimeVersion ?? 'Unknown'}`,
      kubeletVersion: settings.kubeletVersion,
      kubeProxyVersion: '',
      operatingSystem: facts.os,
      architecture: facts.architecture,
    },
    images: inputs.images ? nodeImages(inputs.images) : (prev?.images ?? []),
  };
}

const RESOURCE_FORMAT: Record<string, 'BinarySI' | 'DecimalSI'> = { cpu: 'DecimalSI', pods: 'DecimalSI', memory: 'BinarySI', 'ephemeral-storage': 'BinarySI' };

function buildCapacity(prev: V1NodeStatus | undefined, inputs: NodeInputs, settings: StatusSettings): Record<string, bigint> {
  // As the kubelet: keep what it cannot measure now rather than drop it.
  const capacity: Record<string, bigint> = {};
  for (const [k, v] of Object.entries(prev?.capacity ?? {})) capacity[k] = parseQuantity(v);
  capacity['cpu'] = units(inputs.facts.cpuCores);
  capacity['memory'] = units(inputs.facts.memoryBytes);
  capacity['pods'] = units(settings.maxPods);
  if (inputs.imageFs) capacity['ephemeral-storage'] = units(inputs.imageFs.capacityBytes);
  return capacity;
}

/** allocatable = capacity - (system-reserved + kube-reserved + hard eviction threshold), at least 0. */
/** The memory --system-reserved and --kube-reserved hold back from the pods, in bytes. */
export const reservedMemoryBytes = (settings: Pick<StatusSettings, 'systemReserved' | 'kubeReserved'>): bigint =>
  ((settings.systemReserved['memory'] ?? 0n) + (settings.kubeReserved['memory'] ?? 0n)) / 1000n;

/** The thresholds the pressure conditions come from (the hard ones when no full set is given). */
export const statusThresholds = (settings: Pick<StatusSettings, 'evictionThresholds' | 'evictionHard'>): readonly Threshold[] => settings.evictionThresholds ?? settings.evictionHard;

function buildAllocatable(capacity: Record<string, bigint>, settings: StatusSettings): Record<string, bigint> {
  const reservation: Record<string, bigint> = {};
  const add = (k: string, v: bigint) => (reservation[k] = (reservation[k] ?? 0n) + v);
  for (const [k, v] of Object.entries(settings.systemReserved)) add(k, v);
  for (const [k, v] of Object.entries(settings.kubeReserved)) add(k, v);
  // Only memory.available and nodefs.available reserve anything (pkg/kubelet/cm/helpers.go).
  for (const t of settings.evictionHard) {
    const resource = t.signal === 'memory.available' ? 'memory' : t.signal === 'nodefs.available' ? 'ephemeral-storage' : undefined;
    const cap = resource ? capacity[resource] : undefined;
    if (resource && cap !== undefined) add(resource, units(thresholdAmount(t, cap / 1000n)));
  }
  const allocatable: Record<string, bigint> = {};
  for (const [k, v] of Object.entries(capacity)) {
    const left = v - (reservation[k] ?? 0n);
    allocatable[k] = left > 0n ? left : 0n;
  }
  return allocatable;
}

const formatResources = (r: Record<string, bigint>): Record<string, string> =>
  Object.fromEntries(Object.entries(r).map(([k, v]) => [k, formatQuantity(v, RESOURCE_FORMAT[k] ?? 'DecimalSI')]));

/** The node's images: largest first (ties by ID, descending), at most 50, each with at most 5 names. */
export function nodeImages(images: Image[]): V1ContainerImage[] {
  return [...images]
    .sort((a, b) => (a.size === b.size ? (a.id < b.id ? 1 : a.id > b.id ? -1 : 0) : a.size < b.size ? 1 : -1))
    .slice(0, MAX_IMAGES)
    .map((i) => ({ names: [...i.repoDigests, ...i.repoTags].slice(0, MAX_NAMES_PER_IMAGE), sizeBytes: Number(i.size) }));
}

/** Why the node is not ready, in the kubelet's words; empty when it is. */
export function readyErrors(inputs: NodeInputs, capacity: Record<string, bigint>): string[] {
  const errors: string[] = [];
  const rt = inputs.runtime;
  // runtimeState.runtimeErrors' order: the runtime's last status, the health checks (PLEG), the runtime's conditions.
  if (rt.state === 'unknown') errors.push('container runtime status check may not have completed yet');
  else if (rt.state === 'unreachable') errors.push(`container runtime is down: ${rt.message}`);
  if (inputs.plegUnhealthy) errors.push(`PLEG is not healthy: ${inputs.plegUnhealthy}`);
  if (rt.state === 'answered') {
    for (const type of ['RuntimeReady', 'NetworkReady']) {
      const c = rt.conditions.find((x) => x.type === type);
      const prefix = type === 'RuntimeReady' ? 'container runtime not ready' : 'container runtime network not ready';
      if (!c) errors.push(type === 'RuntimeReady' ? 'container runtime status check may not have completed yet' : 'network state unknown');
      else if (!c.status) errors.push(`${prefix}: ${type}=false reason:${c.reason} message:${c.message}`);
    }
  }
  for (const service of inputs.missingServices) errors.push(notRunningMessage(service));
  // The shutdown manager's error comes after the runtime's (the setter's order).
  if (inputs.shuttingDown) errors.push(NODE_SHUTTING_DOWN);
  const missing = ['cpu', 'memory', 'pods', 'ephemeral-storage'].filter((k) => capacity[k] === undefined);
  if (missing.length) errors.push(`missing node capacity for resources: ${missing.join(', ')}`);
  return errors;
}

/** utilerrors.NewAggregate(...).Error(): one message as is, several as "[a, b]". */
const aggregate = (errors: string[]) => {
  const unique = [...new Set(errors)];
  return unique.length === 1 ? unique[0]! : `[${unique.join(', ')}]`;
};

function setReady(conditions: V1NodeCondition[], errors: string[], now: Date): void {
  const ready: V1NodeCondition = errors.length
    ? { type: 'Ready', status: 'False', reason: 'KubeletNotReady', message: aggregate(errors), lastHeartbeatTime: now }
    : { type: 'Ready', status: 'True', reason: 'KubeletReady', message: 'kubelet is posting ready status', lastHeartbeatTime: now };
  const i = conditions.findIndex((c) => c.type === 'Ready');
  const old = conditions[i];
  ready.lastTransitionTime = old && old.status === ready.status ? old.lastTransitionTime : now;
  if (i >= 0) conditions[i] = ready;
  else conditions.push(ready);
}

function setPressure(conditions: V1NodeCondition[], type: PressureType, under: boolean | undefined, now: Date): void {
  let c = conditions.find((x) => x.type === type);
  if (!c) {
    c = { type, status: 'Unknown' };
    // Pressure conditions come before Ready (the kubelet keeps Ready last).
    const ready = conditions.findIndex((x) => x.type === 'Ready');
    conditions.splice(ready >= 0 ? ready : conditions.length, 0, c);
  }
  c.lastHeartbeatTime = now;
  // Nothing measured yet: the kubelet's eviction manager is not under pressure before its
  // first observation, so the kubelet never reports a pressure condition Unknown (the
  // node lifecycle controller's mark after an outage included). A condition already
  // True or False stays until a measure comes.
  if (under === undefined) {
    if (c.status !== 'Unknown') return;
    under = false;
  }
  const want = under ? 'True' : 'False';
  if (c.status !== want) {
    const [reason, message] = CONDITIONS[type][under ? 'bad' : 'ok'];
    Object.assign(c, { status: want, reason, message, lastTransitionTime: now });
  }
}

/** Whether two statuses differ in anything but heartbeat times (nodeStatusHasChanged). */
export function nodeStatusChanged(a: V1NodeStatus | undefined, b: V1NodeStatus): boolean {
  return changedFields(a, b).length > 0;
}

/** The status fields that differ, heartbeat times aside: what made an update a write. */
export function changedFields(a: V1NodeStatus | undefined, b: V1NodeStatus): string[] {
  const x = comparable(a);
  const y = comparable(b);
  return Object.keys(y).filter((k) => x[k] !== y[k]);
}

function comparable(s: V1NodeStatus | undefined): Record<string, string> {
  const conditions = [...(s?.conditions ?? [])]
    .map((c) => ({ ...c, lastHeartbeatTime: undefined, lastTransitionTime: c.lastTransitionTime ? new Date(c.lastTransitionTime).getTime() : undefined }))
    // Any one order will do for a comparison. Not localeCompare: its first call loads ICU's
    // collation data, ~2.5 MiB of the node binary's pages resident for the process's life.
    .sort((p, q) => (p.type < q.type ? -1 : p.type > q.type ? 1 : 0));
  const fields = { addresses: s?.addresses, capacity: s?.capacity, allocatable: s?.allocatable, daemonEndpoints: s?.daemonEndpoints, nodeInfo: s?.nodeInfo, images: s?.images, conditions };
  return Object.fromEntries(Object.entries(fields).map(([k, v]) => [k, stableStringify(v)]));
}

/** JSON with object keys sorted and empty values dropped, so the API's copy and ours compare equal. */
function stableStringify(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) => {
    if (v instanceof Date) return v.toISOString();
    if (v && typeof v === 'object' && !Array.isArray(v)) {
      return Object.fromEntries(
        Object.entries(v as Record<string, unknown>)
          // The API leaves out empty values (an image without names has no `names`).
          .filter(([, x]) => x !== undefined && x !== null && x !== '' && !(Array.isArray(x) && x.length === 0))
          .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)),
      );
    }
    return v;
  });
}

/** Records an Event about the Node (the kubelet's recorder on its nodeRef). */
export type NodeEventSink = (type: 'Normal' | 'Warning', reason: string, message: string) => void;

/** The condition each of the kubelet's node status setters records an event for, and its reasons (False, True). */
const CONDITION_EVENTS: [string, string, string][] = [
  ['MemoryPressure', 'NodeHasSufficientMemory', 'NodeHasInsufficientMemory'],
  ['DiskPressure', 'NodeHasNoDiskPressure', 'NodeHasDiskPressure'],
  ['PIDPressure', 'NodeHasSufficientPID', 'NodeHasInsufficientPID'],
  ['Ready', 'NodeNotReady', 'NodeReady'],
];

/**
 * The events the kubelet's setters record (recordNodeStatusEvent) as a status goes
 * from prev to next: a pressure or Ready condition that turns True or False (a new
 * condition counts as a change from Unknown), in the setters' order.
 */
export function nodeStatusEvents(prev: V1NodeStatus | undefined, next: V1NodeStatus): string[] {
  const out: string[] = [];
  for (const [type, whenFalse, whenTrue] of CONDITION_EVENTS) {
    const now = next.conditions?.find((c) => c.type === type)?.status;
    const before = prev?.conditions?.find((c) => c.type === type)?.status ?? 'Unknown';
    if (now === before) continue;
    if (now === 'True') out.push(whenTrue);
    if (now === 'False') out.push(whenFalse);
  }
  return out;
}

