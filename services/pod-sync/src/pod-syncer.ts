import type { V1Container, V1ContainerStatus, V1Pod, V1PodCondition, V1ResourceRequirements, V1VolumeMountStatus } from '@kubernetes/client-node';
import type { NatsConnection } from '@nats-io/transport-node';
import { SpanKind, trace } from '@opentelemetry/api';
import { inject, injectable } from 'tsyringe';
import { containerFieldPath, ensureStatusStream, forgetPodStatus, isRemoteError, podStatusSubject, publishEnsuring, recordNodeEvent, recordPodEvent, type ServiceClient } from '@splitlet/bus';
import { ContainerState, PodSandboxState, ProbeResultValue, statusv1, type ContainerStatus, type PodSandboxStatus, type RuntimeService } from '@splitlet/contracts';
import {
  generateContainersReadyCondition,
  generatePodInitializedCondition,
  generatePodReadyCondition,
  generatePodScheduledCondition,
  generatePodReadyToStartContainersCondition,
  mergeConditions,
  phaseReasonAndMessage,
  podPhase,
  podQOSClass,
  podSandboxChange,
  toKubePodStatus,
  toWirePodStatus,
} from '@splitlet/pod-status';
import { EVICTED } from '@splitlet/eviction';
import { TOKENS, type Clock } from '@splitlet/service';
import { ATTR, type Logger } from '@splitlet/telemetry';
import { isAdmissionRejection, type Rejection } from './admission';
import { AdmissionPendingError, type SharedAdmission } from './shared-admission';
import { ContainerInputs } from './container-inputs';
import { ContainerKiller } from './container-kill';
import type { ResourceList } from './downward-resources';
import type { EnvContext } from './env';
import type { ImageManager } from './image-manager';
import { formatPod, runHook } from './lifecycle-hooks';
import { keepCollectedLastState, keepStatusOfRemoved, shownContainerStatuses } from './last-state';
import { podIPOf } from './pod-ip';
import type { SyncResult } from './pod-workers';
import type { ProbeState } from './probe-state';
import { podProbeView } from './probe-view';
import { containerConfig, fallsBackFromClusterDNS, sandboxConfig, type DnsSettings } from './runtime-config';
import { TerminationMessages } from './termination-message';
import type { PodSyncMetrics } from './pod-metrics';
import type { PodRecordInit, PodRecordStore, StoredPodRecord } from './pod-records';
import { SYNC } from './tokens';
import type { VolumeManager } from './volumes/volume-manager';

type Runtime = ServiceClient<typeof RuntimeService>;

/** The kubelet's crash-loop back-off: 10 s doubling to 5 min, forgotten after 10 min of running. */
export const BACKOFF_INITIAL_MS = 10_000;
export const BACKOFF_MAX_MS = 300_000;
/** The kubelet's generic PLEG relist period: a container or sandbox it started is seen (and its pod synced) within it. */
const PLEG_RELIST_MS = 1_000;
/** How long a pod's first sync here waits for the record its last holder kept. */
const KEPT_WAIT_MS = 2_000;
/** A pod whose admission the leader has not decided yet is synced again after this. */
const ADMISSION_RETRY_MS = 1_000;

/** Why a container could not be made to run this time: its waiting reason and message. */
interface SyncFailure {
  reason: string;
  message: string;
}

const tracer = trace.getTracer('pod-sync');
const toKubeTime = (nanos: bigint): Date | undefined => (nanos > 0n ? new Date(Number(nanos / 1_000_000n)) : undefined);

/**
 * Drives one pod toward its spec, as the kubelet's SyncPod (kuberuntime_manager.go):
 * a sandbox, then each app container created and started, restarted per the restart
 * policy with the crash-loop back-off; and SyncTerminatingPod: stop the containers
 * within the grace period, then the sandbox. Every sync ends with the pod's status
 * handed to status-reporter.
 */
const isTerminalPhase = (phase: string | undefined): boolean => phase === 'Failed' || phase === 'Succeeded';

/**
 * A pod the node ends while it should run (the kubelet's killPodFunc with a status
 * function): the eviction manager's eviction, or the node shutdown manager's
 * termination — the reason and message (status, condition and Event) and the grace period.
 */
export interface Eviction {
  /** The status's reason: `Evicted` when unset; the node shutdown's `Terminated`. */
  reason?: string;
  message: string;
  gracePeriodSeconds: number;
  /** Whether the status carries the DisruptionTarget condition (node pressure: yes; a local storage limit: no). */
  disruption?: boolean;
  /** When it was decided (ms): the condition's lastTransitionTime. */
  decidedAt?: number;
  /** The Evicted Event's annotations (evictionMessage's: offending containers, starved resource). */
  annotations?: Record<string, string>;
  /** Whether an Event with the reason and message goes with the decision (the eviction manager's; the shutdown manager records none). */
  event?: boolean;
}

/**
 * What pod-sync holds of one pod between its syncs, in one record per pod UID with
 * one lifecycle: made by the pod's first report, freed whole when the pod is forgotten
 * (cleanup). It is what a hand-over to another replica would move (issue 19).
 */
interface PodRecord {
  /** The version of the last status handed over (µs; only grows per pod). */
  version: bigint;
  /** The last status handed over (a torn-down pod's is handed over again, never an older one). */
  lastStatus?: ReturnType<typeof toWirePodStatus>;
  /** What the last report of a running pod was computed from (for a status-only sync). */
  lastSeen?: { sandboxes: PodSandboxStatus[]; containers: ContainerStatus[]; failures: Map<string, SyncFailure> };
  /**
   * What this worker last generated: its own conditions and start time are the "old
   * status" of the next one (the kubelet's status manager cache, which
   * generateAPIPodStatus prefers to the API's copy). The informer's copy lags behind
   * the writes; taking transition times from it made two syncs a second apart disagree,
   * and each write's watch event then synced the pod again with the other value. Kept
   * beside lastStatus, which holds the same in wire form (and lags it inside a report).
   */
  generated?: { conditions: V1PodCondition[]; startTime: Date; phase: string };
  /**
   * Crash-loop back-off per container name, as the kubelet's flowcontrol.Backoff entry:
   * the current delay and when it was last stepped (lastUpdate).
   */
  backoff: Map<string, { delayMs: number; lastUpdate: number }>;
  /**
   * The kubelet's reason cache, per container name: why the last sync that tried to
   * (re)start it could not (CrashLoopBackOff, PostStartHookError, ...); forgotten when a
   * start succeeds. `shown` is the cache as the current sync began: the kubelet
   * generates a pod's status before the sync's actions, so an exited container shows
   * the reason of the sync before.
   */
  reasons: Map<string, SyncFailure>;
  shown: Map<string, SyncFailure>;
  /** How many syncs of the pod (full or status-only) have begun. */
  syncs: number;
  /** When the earliest back-off of the last full sync ends: the next sync is due then (the pod worker's requeue at the back-off's expiry). */
  backoffDueAt?: number;
  /**
   * Syncs the kubelet's PLEG still owes the pod: a sandbox or container started is seen
   * at the next 1 s relist, and that event syncs the pod again. A container started and
   * then killed over a relist or more (a failed postStart hook) is two events, two syncs.
   */
  relists?: number;
  /** What of it was last kept in the store (its back-off and reason cache), so an unchanged record is not written again. */
  kept?: string;
}

@injectable()
export class PodSyncer {
  /** What this worker holds of each pod, by UID (PodRecord): made by its first report, freed at once when the pod is forgotten. */
  private readonly records = new Map<string, PodRecord>();
  /** The signal of each running sync: aborted when its pod begins terminating (pod-workers.ts). */
  private readonly cancels = new Map<string, AbortSignal>();
  /** Pods the eviction manager chose, by UID, and how (until the pod is forgotten). */
  private readonly evictions = new Map<string, Eviction>();
  private readonly terminationMessages: TerminationMessages;
  private readonly killer: ContainerKiller;
  /** Where a pod's status goes: its own UID, or a static pod's mirror pod's (whose deletion is never asked); undefined: nowhere yet. */
  private statusTarget: (pod: V1Pod) => { uid: string; terminated: false | undefined } | undefined = (pod) => ({ uid: pod.metadata!.uid!, terminated: undefined });

  constructor(
    @inject(SYNC.Runtime) private readonly runtime: Runtime,
    @inject(SYNC.Dns) private readonly dns: DnsSettings,
    @inject(SYNC.NodeIP) private readonly nodeIP: () => Promise<string>,
    @inject(SYNC.NodeAllocatable) private readonly allocatable: () => ResourceList | undefined,
    @inject(SYNC.Probes) private readonly probes: ProbeState,
    @inject(SYNC.ImageManager) private readonly imageManager: ImageManager,
    @inject(TOKENS.Nats) private readonly nc: NatsConnection,
    @inject(TOKENS.NodeName) private readonly nodeName: string,
    @inject(TOKENS.Clock) private readonly clock: Clock,
    @inject(TOKENS.Logger) private readonly logger: Logger,
    @inject(SYNC.Volumes) private readonly volumes: VolumeManager,
    @inject(ContainerInputs) private readonly inputs: ContainerInputs,
    @inject(SYNC.Admission) private readonly admission: SharedAdmission,
    @inject(SYNC.Metrics) private readonly metrics: PodSyncMetrics,
    @inject(SYNC.Records) private readonly store: PodRecordStore,
  ) {
    this.terminationMessages = new TerminationMessages(runtime);
    this.killer = new ContainerKiller(runtime, clock, (p, type, reason, message, container, init) => this.event(p, type, reason, message, container, init), (p) => this.podIPOf(p));
  }

  /** Called when a pod's phase first turns Succeeded or Failed here (its admission stops counting for every replica). */
  onFinished?: (uid: string) => void;

  /** Called when a pod the API server no longer has is cleaned up: what else is kept of it goes (its decisions). */
  onCleanup?: (uid: string) => Promise<void>;

  /** Routes the statuses handed over (a static pod's to its mirror pod). */
  routeStatus(target: (pod: V1Pod) => { uid: string; terminated: false | undefined } | undefined): void {
    this.statusTarget = target;
  }

  /** The pod's record, if this worker holds one. */
  private recordOf(uid: string): PodRecord | undefined {
    return this.records.get(uid);
  }

  /** A sandbox or container started: the PLEG's next relist sees it (one sync owed). */
  private seenStarting(uid: string): void {
    const record = this.ensureRecord(uid);
    record.relists = Math.max(1, record.relists ?? 0);
  }

  /** The pod's record, made when it has none. */
  private ensureRecord(uid: string): PodRecord {
    let r = this.records.get(uid);
    if (!r) this.records.set(uid, (r = { version: 0n, backoff: new Map(), reasons: new Map(), shown: new Map(), syncs: 0, kept: NOTHING_KEPT }));
    return r;
  }

  /**
   * The pod's record as it outlives this process (PodRecord): its back-off, reason cache,
   * last status and version; undefined when this worker holds nothing of the pod.
   */
  exportRecord(uid: string): PodRecordInit | undefined {
    const r = this.records.get(uid);
    if (!r) return undefined;
    return {
      version: r.version,
      ...(r.lastStatus ? { lastStatus: r.lastStatus } : {}),
      generated: r.generated !== undefined,
      backoff: [...r.backoff].map(([name, b]) => ({ name, delayMs: BigInt(b.delayMs), lastUpdate: BigInt(b.lastUpdate) })),
      reasons: [...r.reasons].map(([name, f]) => ({ name, reason: f.reason, message: f.message })),
      backoffDueAt: BigInt(r.backoffDueAt ?? 0),
    };
  }

  /**
   * Takes the record its last holder kept (another replica, or the process before this
   * one) of a pod this worker holds nothing of yet; a pod it holds already keeps its own.
   */
  adopt(uid: string, stored: StoredPodRecord): void {
    if (this.records.has(uid)) return;
    const record = this.ensureRecord(uid);
    record.version = stored.version;
    if (stored.lastStatus) {
      record.lastStatus = stored.lastStatus;
      if (stored.generated) {
        const kube = toKubePodStatus(stored.lastStatus);
        record.generated = {
          conditions: (kube.conditions ?? []).map((c) => ({ ...c, lastTransitionTime: c.lastTransitionTime ? new Date(c.lastTransitionTime) : c.lastTransitionTime })),
          startTime: kube.startTime ? new Date(kube.startTime) : new Date(this.clock.now()),
          phase: kube.phase ?? 'Pending',
        };
      }
    }
    for (const b of stored.backoff) record.backoff.set(b.name, { delayMs: Number(b.delayMs), lastUpdate: Number(b.lastUpdate) });
    for (const f of stored.reasons) record.reasons.set(f.name, { reason: f.reason, message: f.message });
    if (stored.backoffDueAt > 0n) record.backoffDueAt = Number(stored.backoffDueAt);
    record.kept = keptOf(record);
  }

  /** Takes the record the pod's last holder kept, if any (bounded: a store that does not answer leaves the pod to start afresh). */
  private async takeKept(uid: string): Promise<void> {
    const stop = new AbortController();
    try {
      const kept = await Promise.race([this.store.get(uid), this.clock.sleep(KEPT_WAIT_MS, stop.signal).then(() => undefined, () => undefined)]);
      if (kept && !this.records.has(uid)) {
        this.adopt(uid, kept);
        this.logger.debug({ uid }, "took the pod's record its last holder kept");
      }
    } catch (err) {
      this.logger.warn({ uid, err: (err as Error).message }, "the pod's kept record could not be read: its back-off starts afresh");
    } finally {
      stop.abort();
    }
  }

  /** The UIDs of the pods this worker holds a record of. */
  recordedPods(): string[] {
    return [...this.records.keys()];
  }

  /** Lets the pod go (another replica syncs it now): its record is kept for that one and freed here. */
  async handOver(uid: string): Promise<void> {
    const record = this.exportRecord(uid);
    this.records.delete(uid);
    this.cancels.delete(uid);
    this.metrics.forget(uid);
    // Its probe view stays for the prober; the next holder puts (and defends) it from now on.
    this.probes.release(uid);
    if (record) await this.store.save(uid, record);
  }

  /** Drops the record of a pod the API server no longer has and nothing of which is left on the node. */
  dropRecord(uid: string): void {
    this.records.delete(uid);
    void this.store.forget(uid);
  }

  /** Keeps the record in the store when its back-off or reason cache changed since it was last kept (a kill -9 loses no back-off). */
  private keepIfChanged(uid: string): void {
    const record = this.records.get(uid);
    if (!record) return;
    const kept = keptOf(record);
    if (kept === record.kept) return;
    record.kept = kept;
    void this.store.save(uid, this.exportRecord(uid)!);
  }

  /** Throws when the pod's running sync was cancelled (the pod began terminating). */
  private throwIfCancelled(pod: V1Pod): void {
    this.cancels.get(pod.metadata?.uid ?? '')?.throwIfAborted();
  }

  /** The promise, or its cancellation: rejects as soon as the pod's running sync is cancelled. */
  private untilCancelled<T>(pod: V1Pod, p: Promise<T>): Promise<T> {
    const signal = this.cancels.get(pod.metadata?.uid ?? '');
    if (!signal) return p;
    if (signal.aborted) return Promise.reject(signal.reason as Error);
    let onAbort = () => {};
    const cancelled = new Promise<never>((_, reject) => (onAbort = () => reject(signal.reason as Error)));
    signal.addEventListener('abort', onAbort, { once: true });
    // The listener goes with the wait: a sync of many containers does not pile them up.
    return Promise.race([p, cancelled]).finally(() => signal.removeEventListener('abort', onAbort));
  }

  /** Records an Event about the pod (or one of its containers), as the kubelet's recorder. */
  private event(pod: V1Pod, type: 'Normal' | 'Warning', reason: string, message: string, container?: string, init = false, annotations: Record<string, string> = {}): void {
    const m = pod.metadata!;
    // Names are unique across a pod's containers, init and ephemeral ones (API validation).
    const ephemeral = !init && (pod.spec?.ephemeralContainers ?? []).some((e) => e.name === container);
    recordPodEvent(this.nc, this.nodeName, { namespace: m.namespace!, name: m.name!, uid: m.uid!, resourceVersion: m.resourceVersion, ...(container ? { fieldPath: containerFieldPath(container, init, ephemeral) } : {}) }, type, reason, message, annotations);
  }

  /**
   * One sync of the pod; never throws (a failed sync is retried by the next one). Says
   * whether to retry soon (something failed or waits in a back-off, as the kubelet's
   * SyncPod error) and when the pod is due at the latest (its active deadline).
   * statusOnly (a probe result changed, nothing else): the status is computed again
   * from the runtime state the last full sync reported, with no runtime call.
   */
  sync(pod: V1Pod, statusOnly = false, signal?: AbortSignal): Promise<SyncResult> {
    const attributes = { [ATTR.podUid]: pod.metadata?.uid ?? '', [ATTR.podName]: pod.metadata?.name ?? '', [ATTR.namespace]: pod.metadata?.namespace ?? '', [ATTR.nodeName]: this.nodeName };
    return tracer.startActiveSpan(pod.metadata?.deletionTimestamp ? 'pod-sync terminate pod' : 'pod-sync sync pod', { kind: SpanKind.INTERNAL, attributes }, async (span): Promise<SyncResult> => {
      const uid = pod.metadata?.uid ?? '';
      if (signal) this.cancels.set(uid, signal);
      try {
        if (pod.metadata?.uid) {
          // What the pod's last holder kept (another replica, or the process before this one).
          if (!this.records.has(pod.metadata.uid)) await this.takeKept(pod.metadata.uid);
          this.metrics.seen(pod.metadata.uid, this.clock.now());
          const record = this.ensureRecord(pod.metadata.uid);
          record.syncs++;
          record.shown = new Map(record.reasons);
        }
        const seen = statusOnly && !pod.metadata?.deletionTimestamp ? this.recordOf(pod.metadata!.uid!)?.lastSeen : undefined;
        span.setAttribute('splitlet.sync.status_only', Boolean(seen));
        if (seen) {
          await this.report(pod, seen.sandboxes, seen.containers, seen.failures, false);
          return {};
        }
        if (pod.metadata?.deletionTimestamp) {
          // Until status-reporter has deleted it, a terminated pod is looked at again soon.
          await this.terminate(pod);
          return { retry: true };
        }
        const retry = await this.syncRunning(pod);
        // Past it, the pod has been failed already: no hurry for the next sync.
        const deadline = this.activeDeadlineIn(pod);
        // A container waiting out its back-off: the next sync when it ends, as the kubelet's
        // pod worker requeues a backed-off sync at the back-off's expiry (+ up to half of it).
        const backoffDueAt = this.recordOf(uid)?.backoffDueAt;
        const backoff = backoffDueAt === undefined ? undefined : Math.max(1, backoffDueAt - this.clock.now()) * (1 + Math.random() * 0.5);
        // Something started: the kubelet's PLEG sees it at its next relist (1 s) and syncs the pod
        // again — the status that sync generates is the first to carry this one's reasons.
        const relist = this.recordOf(uid)?.relists ? PLEG_RELIST_MS : undefined;
        const due = Math.min(deadline !== undefined && deadline > 0 ? deadline : Infinity, backoff ?? Infinity, relist ?? Infinity);
        return { retry, refresh: this.runs(pod) && this.volumes.hasChangingSources(pod), ...(Number.isFinite(due) ? { dueInMs: Math.ceil(due) } : {}) };
      } catch (err) {
        if (signal?.aborted) {
          // Its termination is the next sync (pending already), or another replica syncs the pod now: nothing of this one is reported.
          this.logger.info({ pod: key(pod) }, 'pod sync cancelled: the pod is terminating, or goes to another replica');
          span.setAttribute('splitlet.sync.cancelled', true);
          return { retry: true };
        }
        this.logger.warn({ pod: key(pod), err: (err as Error).message }, 'pod sync failed; the next sync retries');
        // Waiting for the leader's admission (a leader that died, until another takes the lead): asked again soon.
        if (err instanceof AdmissionPendingError) return { retry: true, dueInMs: ADMISSION_RETRY_MS };
        return { retry: true };
      } finally {
        if (this.cancels.get(uid) === signal) this.cancels.delete(uid);
        this.keepIfChanged(uid);
        span.end();
      }
    });
  }

  /**
   * Between two syncs: the pod's ConfigMap, Secret and projected volumes written again
   * from their sources when those changed (a token renewed), so a change reaches the
   * files within the refresh period whatever the resync period — nothing asked of the
   * runtime, no status. Never throws.
   */
  async refreshVolumes(pod: V1Pod): Promise<void> {
    if (!this.runs(pod)) return;
    try {
      await this.volumes.setUp(pod, await this.envContext(pod.status?.podIP ?? ''));
    } catch (err) {
      this.logger.warn({ pod: key(pod), err: (err as Error).message }, 'volume refresh failed; the next sync retries');
    }
  }

  /** What the downward API and env of a pod with this IP read from the node: its IP, name and allocatable. */
  private async envContext(podIP: string): Promise<EnvContext> {
    return { podIP, hostIP: await this.nodeIP(), nodeName: this.nodeName, allocatable: this.allocatable() };
  }

  /** Whether the pod is one to run (not terminating, not finished). */
  private runs(pod: V1Pod): boolean {
    return !pod.metadata?.deletionTimestamp && !this.finished(pod);
  }

  /** Returns whether the pod waits on something that failed (the next sync comes sooner). */
  private async syncRunning(pod: V1Pod): Promise<boolean> {
    // Refused at admission: nothing of it runs and its status stays the rejection's (the
    // kubelet gives such a pod no pod worker).
    if (this.rejected(pod)) return false;
    const rejection = await this.admit(pod);
    if (rejection) {
      await this.reject(pod, rejection);
      return false;
    }
    const eviction = this.evictions.get(pod.metadata!.uid!);
    if (eviction && !this.finished(pod)) {
      await this.failForEviction(pod, eviction);
      return false;
    }
    if (this.pastActiveDeadline(pod)) {
      await this.failForDeadline(pod);
      return false;
    }
    // A pod that has finished (Succeeded, or Failed for good) is not run again: its
    // sandbox is stopped and its final status kept (the pod worker's terminated state).
    if (this.finished(pod)) {
      await this.syncTerminal(pod);
      return false;
    }
    const retry = await this.runPod(pod);
    // Finished by this sync: torn down now, as the kubelet's pod worker goes on to
    // SyncTerminatedPod — not once the status written comes back from the API.
    if (this.finished(pod)) {
      await this.syncTerminal(pod);
      return false;
    }
    return retry;
  }

  /** Finished: by the API's status, or by the one this worker generated or handed over last (a terminal phase is for good). */
  finished(pod: V1Pod): boolean {
    const done = (phase: string | undefined) => phase === 'Succeeded' || phase === 'Failed';
    const uid = pod.metadata?.uid ?? '';
    const r = this.recordOf(uid);
    return done(pod.status?.phase) || done(r?.generated?.phase) || done(r?.lastStatus?.phase);
  }

  /**
   * Whether the pod was refused at admission: Failed with an admit handler's reason
   * (ours last handed over, else the API's) — for `Evicted`, the eviction manager's
   * refusal under pressure only when no container of it was ever shown (an evicted
   * pod that ran has the same reason).
   */
  private rejected(pod: V1Pod): boolean {
    const status = this.recordOf(pod.metadata?.uid ?? '')?.lastStatus ?? pod.status;
    if (status?.phase !== 'Failed') return false;
    if (status.reason === EVICTED) return !status.containerStatuses?.length;
    return isAdmissionRejection(status.reason);
  }

  /**
   * The eviction manager (or the node shutdown manager) chose the pod (its killPodFunc):
   * the pod's next sync stops its containers within the grace period and fails it,
   * Evicted (or the shutdown's Terminated).
   */
  evict(pod: V1Pod, eviction: Eviction): Eviction {
    // The condition's time is the decision's: every later sync reports the same one.
    const decided = { ...eviction, decidedAt: eviction.decidedAt ?? this.clock.now() };
    this.evictions.set(pod.metadata!.uid!, decided);
    // The Event goes with the decision (evictPod records it before the kill), once: a
    // sync that fails midway and is retried does not record it again.
    this.logger.info({ pod: key(pod), reason: eviction.reason ?? EVICTED, message: eviction.message }, eviction.reason ? 'pod terminated by the node' : 'pod evicted');
    if (eviction.event !== false) this.event(pod, 'Warning', eviction.reason ?? EVICTED, eviction.message, undefined, false, eviction.annotations);
    return decided;
  }

  /** An eviction decided by another replica (the one that leads, which recorded its Event): the pod's next sync here carries it out. */
  evicted(uid: string, eviction: Eviction | undefined): void {
    if (eviction) this.evictions.set(uid, eviction);
    else this.evictions.delete(uid);
  }

  /**
   * evictPod's kill (its Event went with the decision), in SyncTerminatingPod's order:
   * the status first — Failed, reason Evicted (the node shutdown's: Terminated), the
   * message and, for a node-pressure eviction and a node shutdown, the DisruptionTarget condition (TerminationByKubelet) — written while the
   * containers still run, then the containers stopped with the eviction's grace period
   * (1 s for a hard threshold), the sandbox stopped, and the status again with what
   * they ended as. The pod object stays, as the kubelet leaves it.
   */
  private async failForEviction(pod: V1Pod, e: Eviction): Promise<void> {
    const uid = pod.metadata!.uid!;
    const now = new Date(Math.floor((e.decidedAt ?? this.clock.now()) / 1000) * 1000);
    const status = {
      phase: 'Failed',
      reason: e.reason ?? EVICTED,
      message: e.message,
      ...(e.disruption === false
        ? {}
        : { conditions: [{ type: 'DisruptionTarget', status: 'True', reason: 'TerminationByKubelet', message: e.message, lastTransitionTime: now, ...(pod.metadata?.generation !== undefined ? { observedGeneration: pod.metadata.generation } : {}) }] }),
    };
    const containers = await this.containersOf(uid);
    const running = containers.filter((c) => c.state === ContainerState.RUNNING);
    if (running.length) await this.report(pod, await this.sandboxesOf(uid), containers, new Map(), false, status);
    if (running.length) await this.killer.killContainers(pod, running, e.gracePeriodSeconds);
    for (const s of await this.sandboxesOf(uid)) if (s.state === PodSandboxState.READY) await this.runtime.stopPodSandbox({ podSandboxId: s.id });
    await this.report(pod, await this.sandboxesOf(uid), await this.containersOf(uid), new Map(), false, status);
  }

  /**
   * The kubelet's admission (HandlePodAdditions → canAdmitPod) of a pod this process
   * sees for the first time, not finished and with nothing of it on the node yet: the
   * rejection, if its admit handlers refuse it. (The kubelet admits again after its own
   * restart, even pods that run; a pod-sync restart leaves a running pod running.)
   */
  private async admit(pod: V1Pod): Promise<Rejection | undefined> {
    const uid = pod.metadata!.uid!;
    const r = this.recordOf(uid);
    if (r?.generated || r?.lastStatus || this.finished(pod)) return undefined;
    const rejection = await this.untilCancelled(pod, this.admission.admit(pod));
    if (!rejection) return undefined;
    if ((await this.sandboxesOf(uid)).length) {
      this.admission.admitted(uid);
      return undefined;
    }
    return rejection;
  }

  /**
   * The kubelet's rejectPod: a Warning Event with the handler's reason and message, and
   * the status Failed with that reason and `Pod was rejected: <message>` (its QoS class
   * and a start time, nothing else: no container of it ever ran).
   */
  private async reject(pod: V1Pod, r: Rejection): Promise<void> {
    this.logger.info({ pod: key(pod), reason: r.reason, message: r.message }, 'pod rejected at admission');
    this.event(pod, 'Warning', r.reason, r.message);
    const startTime = pod.status?.startTime ?? new Date(Math.floor(this.clock.now() / 1000) * 1000);
    await this.publishStatus(pod, toWirePodStatus({ phase: 'Failed', reason: r.reason, message: `Pod was rejected: ${r.message}`, qosClass: podQOSClass(pod), startTime }), false, true);
  }

  /** SyncPod for a pod to run: volumes, sandbox, init and app containers, the status. Returns whether to retry soon. */
  private async runPod(pod: V1Pod): Promise<boolean> {
    const uid = pod.metadata!.uid!;
    const record = this.ensureRecord(uid);
    record.backoffDueAt = undefined;
    // This sync is the one the oldest owed PLEG event asked for.
    record.relists = Math.max(0, (record.relists ?? 0) - 1);
    // WaitForAttachAndMount: no container starts before all the pod's volumes are there (FailedMount otherwise).
    const volumeCtx = await this.envContext(pod.status?.podIP ?? '');
    if (!(await this.volumes.setUp(pod, volumeCtx))) {
      await this.report(pod, await this.sandboxesOf(uid), await this.containersOf(uid), new Map(), false);
      return true;
    }
    const sandboxes = await this.sandboxesOf(uid);
    const change = podSandboxChange(pod, sandboxes.map(asSandboxView));
    let sandbox = sandboxes[0];
    if (change) {
      // A new sandbox means new containers too (the kubelet kills the pod first).
      for (const s of sandboxes.filter((x) => x.state === PodSandboxState.READY)) await this.runtime.stopPodSandbox({ podSandboxId: s.id });
      if (sandbox) this.event(pod, 'Normal', 'SandboxChanged', 'Pod sandbox changed, it will be killed and re-created.');
      const attempt = sandbox ? sandbox.metadata!.attempt + 1 : 0;
      let podSandboxId: string;
      this.metrics.sandboxStarting();
      if (fallsBackFromClusterDNS(pod, this.dns)) {
        // The kubelet's dns configurer, each time it builds the sandbox's DNS: on the pod and the node.
        const why = `kubelet does not have ClusterDNS IP configured and cannot create Pod using "ClusterFirst" policy. Falling back to "Default" policy.`;
        this.event(pod, 'Warning', 'MissingClusterDNS', `pod: "${formatPod(pod)}". ${why}`);
        recordNodeEvent(this.nc, this.nodeName, 'Warning', 'MissingClusterDNS', why);
      }
      try {
        ({ podSandboxId } = await this.runtime.runPodSandbox({ config: sandboxConfig(pod, attempt, this.dns) }));
      } catch (err) {
        this.metrics.sandboxFailed();
        // The kubelet's createPodSandbox failure: an Event, the pod stays Pending with its
        // containers waiting, and the next sync tries again.
        const e = err as Error & { description?: string };
        this.event(pod, 'Warning', 'FailedCreatePodSandBox', `Failed to create pod sandbox: ${e.description ?? e.message}`);
        await this.report(pod, await this.sandboxesOf(uid), [], new Map(), false);
        return true;
      }
      this.seenStarting(uid);
      sandbox = (await this.runtime.podSandboxStatus({ podSandboxId })).status;
      this.logger.info({ pod: key(pod), sandbox: podSandboxId, reason: change }, 'pod sandbox started');
    }
    const failures = new Map<string, SyncFailure>();
    const containers = await this.containersOf(uid);
    // Whether this sync changed anything in the runtime: if not, the list it started
    // from is still the state to report (one runtime round trip less per quiet sync).
    const acted = { value: Boolean(change) };
    const current = async () => (acted.value ? this.containersOf(uid) : containers);
    // computePodActions' KillPod: once no app container runs or is to be started, the
    // sidecars are not restarted but stopped, in the termination order; the status then
    // says Succeeded or Failed, and the pod is torn down.
    if (appContainersDone(pod, containers)) {
      const running = containers.filter((c) => c.state === ContainerState.RUNNING);
      if (running.length) {
        acted.value = true;
        await this.killer.killContainers(pod, running, pod.spec?.terminationGracePeriodSeconds ?? 30);
      }
      await this.report(pod, sandbox ? [sandbox] : [], await current(), failures, false);
      return false;
    }
    // Ephemeral containers start before the init sequence is through (SyncPod's step 5),
    // once each, never restarted; not in the sync that made a new sandbox.
    if (!change) await this.startEphemeralContainers(pod, sandbox!, containers, failures, acted);
    if (!(await this.syncInitContainers(pod, sandbox!, containers, failures, acted))) {
      await this.report(pod, sandbox ? [sandbox] : [], await current(), failures, false);
      return failures.size > 0;
    }
    for (const c of pod.spec?.containers ?? []) {
      let latest = containers.find((x) => x.metadata?.name === c.name);
      // The back-off judges from the pod as this sync found it (the kubelet's podStatus): a
      // container killed now (a failed liveness probe) counts its instance before, if any.
      let backoffView = latest;
      try {
        if (latest?.state === ContainerState.RUNNING) {
          const before = latest;
          latest = await this.killIfProbeFailed(pod, c, latest, false);
          if (latest !== before) {
            acted.value = true;
            backoffView = containers.find((x) => x.metadata?.name === c.name && x.state === ContainerState.EXITED);
          }
        }
        if (latest?.state === ContainerState.RUNNING) continue;
        if (latest?.state === ContainerState.CREATED) {
          acted.value = true;
          await this.runtime.startContainer({ containerId: latest.id });
          this.seenStarting(uid);
          continue;
        }
        if (latest?.state === ContainerState.EXITED) {
          const policy = pod.spec?.restartPolicy ?? 'Always';
          if (policy === 'Never' || (policy === 'OnFailure' && latest.exitCode === 0)) continue;
          // In its back-off: the next sync comes at its end (backoffDueAt).
          if (this.inBackoff(pod, c.name, backoffView?.state === ContainerState.EXITED ? backoffView : undefined)) continue;
        }
        acted.value = true;
        await this.startNew(pod, c, sandbox!, latest ? latest.metadata!.attempt + 1 : 0);
      } catch (err) {
        this.throwIfCancelled(pod);
        failures.set(c.name, this.failureOf(err));
        this.rememberReason(pod, c.name, this.failureOf(err));
      }
    }
    await this.report(pod, sandbox ? [sandbox] : [], await current(), failures, false);
    return failures.size > 0;
  }

  /**
   * Init containers one at a time, in order (computeInitContainerActions): a regular
   * one must exit 0 before the next starts; a sidecar (restartPolicy Always) need only
   * be running, and is restarted when it exits. True once all are done, so the app
   * containers may start.
   */
  private async syncInitContainers(
    pod: V1Pod,
    sandbox: PodSandboxStatus,
    containers: ContainerStatus[],
    failures: Map<string, SyncFailure>,
    acted: { value: boolean },
  ): Promise<boolean> {
    const uid = pod.metadata!.uid!;
    // podHasInitialized: an app container created or running means the init sequence
    // was gone through once; a sidecar's startup no longer holds anything then.
    const initialized = (pod.spec?.containers ?? []).some((a) =>
      containers.some((x) => x.metadata?.name === a.name && (x.state === ContainerState.CREATED || x.state === ContainerState.RUNNING)),
    );
    // A sidecar with a startup probe holds the next containers until that probe has
    // succeeded for its running instance (computeInitContainerActions).
    const holds = (c: V1Container, id?: string) =>
      c.restartPolicy === 'Always' && Boolean(c.startupProbe) && !initialized && (!id || this.probes.result(uid, c.name, 'startup', id) !== ProbeResultValue.SUCCESS);
    for (const c of pod.spec?.initContainers ?? []) {
      let latest = containers.find((x) => x.metadata?.name === c.name);
      let backoffView = latest; // as for app containers: the pod as this sync found it
      const sidecar = c.restartPolicy === 'Always';
      try {
        if (sidecar && latest?.state === ContainerState.RUNNING) {
          const before = latest;
          latest = await this.killIfProbeFailed(pod, c, latest, true);
          if (latest !== before) {
            acted.value = true;
            backoffView = containers.find((x) => x.metadata?.name === c.name && x.state === ContainerState.EXITED);
          }
        }
        if (latest?.state === ContainerState.RUNNING) {
          if (sidecar && !holds(c, latest.id)) continue;
          return false; // wait for it to finish (or, a sidecar, to start)
        }
        if (latest?.state === ContainerState.CREATED) {
          acted.value = true;
          await this.runtime.startContainer({ containerId: latest.id });
          this.seenStarting(uid);
          if (sidecar && !holds(c)) continue;
          return false;
        }
        if (latest?.state === ContainerState.EXITED) {
          if (!sidecar && latest.exitCode === 0) continue; // completed
          if (!sidecar && (pod.spec?.restartPolicy ?? 'Always') === 'Never') return false; // the pod has failed
          if (this.inBackoff(pod, c.name, backoffView?.state === ContainerState.EXITED ? backoffView : undefined)) return false;
        }
        acted.value = true;
        await this.startNew(pod, c, sandbox, latest ? latest.metadata!.attempt + 1 : 0);
        if (!sidecar || holds(c)) return false;
      } catch (err) {
        this.throwIfCancelled(pod);
        failures.set(c.name, this.failureOf(err));
        this.rememberReason(pod, c.name, this.failureOf(err));
        return false;
      }
    }
    return true;
  }

  /**
   * computePodActions' EphemeralContainersToStart: each ephemeral container of the spec
   * that has no instance yet is started (`kubectl debug`); one that ran is never
   * started again. With targetContainerName it joins that container's processes.
   */
  private async startEphemeralContainers(pod: V1Pod, sandbox: PodSandboxStatus, containers: ContainerStatus[], failures: Map<string, SyncFailure>, acted: { value: boolean }): Promise<void> {
    for (const e of pod.spec?.ephemeralContainers ?? []) {
      if (containers.some((x) => x.metadata?.name === e.name)) continue;
      acted.value = true;
      // The target's newest instance, as the kubelet's startContainer picks it from the pod's status.
      const target = e.targetContainerName ? containers.find((x) => x.metadata?.name === e.targetContainerName)?.id : undefined;
      try {
        await this.startNew(pod, e as V1Container, sandbox, 0, target);
      } catch (err) {
        this.throwIfCancelled(pod);
        failures.set(e.name, this.failureOf(err));
      }
    }
  }

  /**
   * A running container that failed its liveness or startup probe is killed
   * (computePodActions): a Killing Event in the kubelet's words, the probe's own
   * terminationGracePeriodSeconds when it has one. Returns the instance as it is now;
   * the caller then restarts it per the restart policy.
   */
  private async killIfProbeFailed(pod: V1Pod, c: V1Container, running: ContainerStatus, init: boolean): Promise<ContainerStatus | undefined> {
    const failed = this.probes.failedProbe(pod.metadata!.uid!, c, running.id);
    if (!failed) return running;
    const policy = pod.spec?.restartPolicy ?? 'Always';
    const restart = init || policy !== 'Never';
    const probe = failed === 'liveness' ? c.livenessProbe : c.startupProbe;
    const grace = probe?.terminationGracePeriodSeconds ?? pod.spec?.terminationGracePeriodSeconds ?? 30;
    await this.killer.killContainer(pod, running, grace, `Container ${c.name} failed ${failed} probe${restart ? ', will be restarted' : ''}`);
    return (await this.runtime.containerStatus({ containerId: running.id })).status;
  }

  /** The pod's IP as its containers see it (the node's for hostNetwork pods). */
  private async podIPOf(pod: V1Pod): Promise<string> {
    if (pod.spec?.hostNetwork) return this.nodeIP();
    const sandbox = (await this.sandboxesOf(pod.metadata!.uid!)).find((s) => s.state === PodSandboxState.READY);
    return sandbox?.network?.ip ?? '';
  }

  /**
   * Whether the container must wait before its next start (CrashLoopBackOff): the
   * kubelet's doBackOff over its flowcontrol.Backoff. `exited` is the newest exited
   * instance as the sync found the pod (none: no back-off, and the clock does not
   * start); the back-off runs from when it finished. Not in back-off, the delay is
   * stepped (10 s, doubled, up to 5 min; afresh once 10 min passed since the last step)
   * and the container may start now.
   */
  private inBackoff(pod: V1Pod, name: string, exited: ContainerStatus | undefined): boolean {
    if (!exited) return false;
    const record = this.ensureRecord(pod.metadata!.uid!);
    const now = this.clock.now();
    const finishedAt = Number(exited.finishedAt / 1_000_000n);
    const b = record.backoff.get(name);
    const expired = b !== undefined && finishedAt - b.lastUpdate > 2 * BACKOFF_MAX_MS;
    if (b && !expired && now - finishedAt < b.delayMs) {
      this.event(pod, 'Warning', 'BackOff', `Back-off restarting failed container ${name} in pod ${formatPod(pod)}`, name, (pod.spec?.initContainers ?? []).some((c) => c.name === name));
      this.rememberReason(pod, name, { reason: 'CrashLoopBackOff', message: `back-off ${Math.round(b.delayMs / 1000)}s restarting failed container=${name} pod=${formatPod(pod)}` });
      record.backoffDueAt = Math.min(record.backoffDueAt ?? Infinity, finishedAt + b.delayMs);
      return true;
    }
    record.backoff.set(name, { delayMs: !b || expired ? BACKOFF_INITIAL_MS : Math.min(b.delayMs * 2, BACKOFF_MAX_MS), lastUpdate: now });
    return false;
  }

  private async startNew(pod: V1Pod, c: V1Container, sandbox: PodSandboxStatus, attempt: number, pidTarget?: string): Promise<void> {
    const init = (pod.spec?.initContainers ?? []).includes(c);
    const ev = (type: 'Normal' | 'Warning', reason: string, message: string) => this.event(pod, type, reason, message, c.name, init);
    this.throwIfCancelled(pod);
    // A pull is not waited for once the pod is terminating (it goes on in the runtime).
    await this.untilCancelled(pod, this.imageManager.ensure(pod, c, ev));
    this.throwIfCancelled(pod);
    // Counted once the image is there, as the kubelet's startContainer (labelled by its kind).
    const type = init ? 'init_container' : (pod.spec?.ephemeralContainers ?? []).some((e) => e.name === c.name) ? 'ephemeral_container' : 'container';
    this.metrics.containerStarting(type);
    let containerId: string;
    try {
      const hostIP = await this.nodeIP();
      const envCtx = await this.envContext(pod.spec?.hostNetwork ? hostIP : (sandbox.network?.ip ?? ''));
      const inputs = await this.inputs.resolve(pod, c, envCtx);
      ({ containerId } = await this.runtime.createContainer({
        podSandboxId: sandbox.id,
        config: containerConfig(pod, c, attempt, envCtx, inputs, pidTarget),
        sandboxConfig: sandboxConfig(pod, sandbox.metadata!.attempt, this.dns),
      }));
    } catch (err) {
      const e = err as Error & { description?: string; waiting?: string };
      this.metrics.containerFailed(type, err);
      ev('Warning', 'Failed', `Error: ${e.description ?? e.message}`);
      throw Object.assign(e, { waiting: e.waiting ?? (isRemoteError(err) && err.code === 9 ? 'CreateContainerConfigError' : 'CreateContainerError') });
    }
    ev('Normal', 'Created', 'Container created');
    try {
      await this.runtime.startContainer({ containerId });
    } catch (err) {
      const e = err as Error & { description?: string };
      this.metrics.containerFailed(type, err);
      ev('Warning', 'Failed', `Error: ${e.description ?? e.message}`);
      throw Object.assign(e, { waiting: 'RunContainerError' });
    }
    ev('Normal', 'Started', 'Container started');
    const startedAt = this.clock.now();
    this.seenStarting(pod.metadata!.uid!);
    const postStart = c.lifecycle?.postStart;
    if (postStart) {
      // The container counts as started only once its postStart hook is done; a failed
      // hook kills it (the restart policy then decides), as the kubelet's startContainer.
      const podIP = pod.spec?.hostNetwork ? await this.nodeIP() : (sandbox.network?.ip ?? '');
      // A terminating pod stops waiting for it: its termination kills the container.
      const failure = await this.untilCancelled(pod, runHook(this.runtime, pod, c, postStart, { containerId, podIP }, pod.spec?.terminationGracePeriodSeconds ?? 30));
      if (failure) {
        // As the kubelet's startContainer: the hook's output stays out of the Event (a secret could be in it).
        ev('Warning', 'FailedPostStartHook', 'PostStartHook failed');
        const [status] = [(await this.runtime.containerStatus({ containerId })).status];
        if (status?.state === ContainerState.RUNNING) await this.killer.killContainer(pod, status, pod.spec?.terminationGracePeriodSeconds ?? 30, 'FailedPostStartHook');
        // A relist saw it running, a later one sees it dead: a second event, a second sync.
        if (this.clock.now() - startedAt >= PLEG_RELIST_MS) this.ensureRecord(pod.metadata!.uid!).relists = 2;
        throw Object.assign(new Error(failure), { waiting: 'PostStartHookError' });
      }
    }
    // Started (and its postStart done): the reason cache forgets why it could not be before.
    this.recordOf(pod.metadata!.uid!)?.reasons.delete(c.name);
  }

  /** The reason cache's Update for one container: this sync's reason it could not start it. */
  private rememberReason(pod: V1Pod, name: string, failure: SyncFailure): void {
    this.ensureRecord(pod.metadata!.uid!).reasons.set(name, failure);
  }

  private failureOf(err: unknown): SyncFailure {
    const e = err as Error & { waiting?: string; description?: string };
    return { reason: e.waiting ?? 'CreateContainerError', message: e.description ?? e.message };
  }

  private async syncTerminal(pod: V1Pod): Promise<void> {
    const uid = pod.metadata!.uid!;
    // What still runs of a finished pod (its sidecars) is stopped gracefully, in the
    // termination order, as the kubelet's SyncTerminatingPod — not killed with the sandbox.
    const running = (await this.containersOf(uid)).filter((c) => c.state === ContainerState.RUNNING);
    if (running.length) await this.killer.killContainers(pod, running, pod.spec?.terminationGracePeriodSeconds ?? 30);
    for (const s of await this.sandboxesOf(uid)) if (s.state === PodSandboxState.READY) await this.runtime.stopPodSandbox({ podSandboxId: s.id });
    await this.volumes.tearDown(uid); // a finished pod's volumes go now, as the kubelet's for terminated pods
    // The phase it ended with keeps the reason that went with it (Evicted, DeadlineExceeded):
    // the status this worker handed over last, else (a restart) the API's — each only
    // when terminal. The informer's copy can still show the phase before (Running, with
    // another writer's reason), which is not what the pod ended as.
    const last = this.recordOf(uid)?.lastStatus;
    const ended = isTerminalPhase(last?.phase) ? last : isTerminalPhase(pod.status?.phase) ? pod.status : undefined;
    const reason = ended?.reason ? { phase: ended.phase!, reason: ended.reason, message: ended.message ?? '' } : undefined;
    await this.report(pod, await this.sandboxesOf(uid), await this.containersOf(uid), new Map(), false, reason);
  }

  /**
   * activeDeadlineSeconds counts from the pod's startTime (the kubelet's
   * activeDeadlineHandler, which reads the status manager's copy: ours first).
   */
  private pastActiveDeadline(pod: V1Pod): boolean {
    const left = this.activeDeadlineIn(pod);
    return left !== undefined && left <= 0;
  }

  /** How long until the pod's active deadline (ms), if it has one and has started. */
  private activeDeadlineIn(pod: V1Pod): number | undefined {
    const deadline = pod.spec?.activeDeadlineSeconds;
    const start = this.recordOf(pod.metadata?.uid ?? '')?.generated?.startTime ?? pod.status?.startTime;
    if (deadline === undefined || !start) return undefined;
    return new Date(start).getTime() + deadline * 1000 - this.clock.now();
  }

  /**
   * A pod past its active deadline is failed (DeadlineExceeded) and its containers
   * stopped; the pod object stays, as the kubelet leaves it.
   */
  private async failForDeadline(pod: V1Pod): Promise<void> {
    const uid = pod.metadata!.uid!;
    const running = (await this.containersOf(uid)).filter((c) => c.state === ContainerState.RUNNING);
    if (running.length) {
      this.event(pod, 'Normal', 'DeadlineExceeded', 'Pod was active on the node longer than the specified deadline');
      const grace = pod.spec?.terminationGracePeriodSeconds ?? 30;
      await this.killer.killContainers(pod, running, grace);
    }
    for (const s of await this.sandboxesOf(uid)) if (s.state === PodSandboxState.READY) await this.runtime.stopPodSandbox({ podSandboxId: s.id });
    await this.report(pod, await this.sandboxesOf(uid), await this.containersOf(uid), new Map(), false, {
      phase: 'Failed',
      reason: 'DeadlineExceeded',
      message: 'Pod was active on the node longer than the specified deadline',
    });
  }

  /** SyncTerminatingPod: stop every container within the grace period, then the sandbox; report the end. */
  private async terminate(pod: V1Pod): Promise<void> {
    const uid = pod.metadata!.uid!;
    const grace = pod.metadata?.deletionGracePeriodSeconds ?? pod.spec?.terminationGracePeriodSeconds ?? 30;
    const before = await this.containersOf(uid);
    const running = before.filter((c) => c.state === ContainerState.RUNNING);
    // As SyncTerminatingPod, the status first says the pod is going: its containers no
    // longer ready, its probes stopped (the view says terminating).
    if (running.length) await this.report(pod, await this.sandboxesOf(uid), before, new Map(), false);
    // The app containers first, then the sidecars in reverse order (container-kill.ts).
    await this.killer.killContainers(pod, running, grace);
    const sandboxes = await this.sandboxesOf(uid);
    const containers = await this.containersOf(uid);
    if (!sandboxes.length && !containers.length) {
      // Already torn down (a repeated sync, or pod-sync restarted meanwhile): nothing is
      // left to describe, so hand over the status the API has, marked terminated, for
      // status-reporter to complete the deletion — never a status rebuilt from nothing.
      // The status this worker last handed over wins over the informer's copy, which
      // may not have caught up with it yet (an older status would be written back).
      await this.publishStatus(pod, this.recordOf(uid)?.lastStatus ?? toWirePodStatus(pod.status ?? {}), true);
      return;
    }
    for (const s of sandboxes) await this.runtime.stopPodSandbox({ podSandboxId: s.id });
    await this.report(pod, await this.sandboxesOf(uid), await this.containersOf(uid), new Map(), true);
    for (const s of sandboxes) await this.runtime.removePodSandbox({ podSandboxId: s.id });
    await this.volumes.tearDown(uid);
    this.recordOf(uid)?.backoff.clear();
    this.recordOf(uid)?.reasons.clear();
    this.recordOf(uid)?.shown.clear();
    this.imageManager.forget(uid);
  }

  /** Removes what runs for a pod the API server no longer has. */
  async cleanup(uid: string): Promise<void> {
    // What this process holds of the pod goes first, whatever the runtime answers below
    // (a failed removal is retried by housekeeping, which finds the sandbox again).
    this.records.delete(uid);
    void this.store.forget(uid);
    this.metrics.forget(uid);
    this.admission.forget(uid);
    this.evictions.delete(uid);
    void this.onCleanup?.(uid);
    this.imageManager.forget(uid);
    try {
      for (const s of await this.sandboxesOf(uid)) {
        await this.runtime.stopPodSandbox({ podSandboxId: s.id });
        await this.runtime.removePodSandbox({ podSandboxId: s.id });
        this.logger.info({ uid, sandbox: s.id }, 'removed the sandbox of a pod that no longer exists');
      }
      await this.volumes.tearDown(uid);
    } finally {
      await this.probes.remove(uid);
      // Its last status is of no use to anyone now: status-reporter coming back must not read it.
      await forgetPodStatus(this.nc, this.nodeName, uid).catch((err: unknown) => this.logger.debug({ uid, err: (err as Error).message }, 'the pod\'s last status stays in the status stream until it ages out'));
    }
  }

  /** Pod UIDs that have sandboxes or volumes on this node. */
  async podsWithSandboxes(): Promise<Set<string>> {
    const { items } = await this.runtime.listPodSandbox({});
    return new Set([...items.map((s) => s.metadata?.uid ?? ''), ...this.volumes.podDirs()].filter(Boolean));
  }

  private async sandboxesOf(uid: string): Promise<PodSandboxStatus[]> {
    const { items } = await this.runtime.listPodSandbox({ filter: { labelSelector: { 'io.kubernetes.pod.uid': uid } } });
    return items.sort((a, b) => (b.createdAt > a.createdAt ? 1 : b.createdAt < a.createdAt ? -1 : 0));
  }

  /** The pod's containers, newest attempt first. */
  private async containersOf(uid: string): Promise<ContainerStatus[]> {
    const { containers } = await this.runtime.listContainers({ filter: { labelSelector: { 'io.kubernetes.pod.uid': uid } } });
    return containers.sort((a, b) => (b.metadata?.attempt ?? 0) - (a.metadata?.attempt ?? 0));
  }

  /** Builds the pod's status as the kubelet's generateAPIPodStatus and hands it to status-reporter. */
  private async report(
    pod: V1Pod,
    sandboxes: PodSandboxStatus[],
    containers: ContainerStatus[],
    failures: Map<string, SyncFailure>,
    terminated: boolean,
    override?: { phase: string; reason: string; message: string; conditions?: V1PodCondition[] },
  ): Promise<void> {
    const now = this.clock.now();
    const record = this.ensureRecord(pod.metadata!.uid!);
    record.lastSeen = terminated || override ? undefined : { sandboxes, containers, failures };
    // An exited container's message gets its termination message (kuberuntime's getTerminationMessage).
    containers = await Promise.all(
      containers.map(async (x) => {
        const t = await this.terminationMessages.of(x).catch(() => '');
        return t ? { ...x, message: x.message ? `${x.message}: ${t}` : t } : x;
      }),
    );
    // A pod with init containers shows PodInitializing for what has not been created yet.
    const waitingReason = pod.spec?.initContainers?.length ? 'PodInitializing' : 'ContainerCreating';
    // A lastState whose instance the container GC removed stays as shown (last-state.ts).
    const shown = shownContainerStatuses(pod, record.lastStatus);
    const statusesOf = (list: V1Container[] | undefined, init: boolean) =>
      (list ?? []).map((c) => {
        // Why it is not running: the reason cache as this sync began (the kubelet's status comes before its
        // sync's actions), else what this sync met (its first: the kubelet would still say ContainerCreating).
        const failure = record.shown.get(c.name) ?? failures.get(c.name);
        const computed = keepCollectedLastState(this.containerStatus(pod, c, containers, failure, waitingReason), shown.get(c.name));
        const st = keepStatusOfRemoved(computed, shown.get(c.name), { defaultWaitingReason: waitingReason, deleting: Boolean(pod.metadata?.deletionTimestamp) });
        // A regular init container is ready once it has exited 0 (convertToAPIContainerStatuses).
        if (init && c.restartPolicy !== 'Always') st.ready = st.state?.terminated?.exitCode === 0;
        return st;
      });
    // App and ephemeral containers' statuses by name, init containers' in spec order (convertToAPIContainerStatuses).
    const statuses = statusesOf(pod.spec?.containers, false).sort(byName);
    const initStatuses = statusesOf(pod.spec?.initContainers, true);
    // An ephemeral container is never ready and has no started (no probe reports on it).
    const ephemeralStatuses = statusesOf(pod.spec?.ephemeralContainers as V1Container[] | undefined, false)
      .map(({ started: _started, ...st }) => ({ ...st, ready: false }))
      .sort(byName);
    const all = [...statuses, ...initStatuses];
    const uid = pod.metadata!.uid!;
    // The old status: what this worker generated last, else (a restart) the API's.
    const mine = record.generated;
    const oldStatus = mine ? { ...pod.status, conditions: mine.conditions, startTime: mine.startTime } : pod.status;
    // generateAPIPodStatus: no way out of a terminal phase — this worker's last, or the
    // API's — and the same phase keeps its reason and message.
    let phase = override ? (override.phase as ReturnType<typeof podPhase>) : podPhase(pod, statuses, initStatuses, terminated);
    if (!isTerminalPhase(phase)) {
      if (isTerminalPhase(mine?.phase)) phase = mine!.phase as typeof phase;
      else if (isTerminalPhase(pod.status?.phase)) phase = pod.status!.phase as typeof phase;
    }
    const last = record.lastStatus;
    const kept = override ?? phaseReasonAndMessage(phase, mine ? { phase: mine.phase, reason: last?.reason, message: last?.message } : undefined, pod.status);
    const { reason, message } = { reason: kept.reason || undefined, message: kept.message || undefined };
    this.metrics.phase(uid, mine?.phase ?? pod.status?.phase, phase, now);
    this.metrics.statusUpdated(uid, statuses, now);
    const sandboxView = sandboxes.map(asSandboxView);
    const generated = [generatePodReadyToStartContainersCondition(pod, sandboxView), generatePodInitializedCondition(pod, all, phase, { oldStatus })];
    generated.push(generateContainersReadyCondition(pod, all, phase));
    // Readiness gates are other writers' conditions: those come from the API's copy.
    generated.push(generatePodReadyCondition(pod, [...(pod.status?.conditions ?? []), ...generated], all, phase));
    generated.push(generatePodScheduledCondition(pod));
    const conditions = [...mergeConditions(oldStatus?.conditions, generated, new Date(Math.floor(now / 1000) * 1000)), ...(override?.conditions ?? [])];
    const hostIP = await this.nodeIP();
    const podIP = podIPOf(sandboxes, pod.spec?.hostNetwork ? hostIP : undefined, record.lastStatus?.podIp || pod.status?.podIP);
    const startTime = oldStatus?.startTime ? new Date(oldStatus.startTime) : new Date(Math.floor(now / 1000) * 1000);
    if (isTerminalPhase(phase) && !isTerminalPhase(record.generated?.phase)) this.onFinished?.(uid);
    record.generated = { conditions, startTime, phase };
    if (terminated) await this.probes.remove(uid);
    else await this.probes.publish(uid, podProbeView(pod, [...statuses, ...initStatuses], podIP, hostIP, BigInt(now) * 1000n));
    await this.publishStatus(
      pod,
      toWirePodStatus({
        phase,
        reason,
        message,
        conditions,
        hostIP,
        hostIPs: hostIP ? [{ ip: hostIP }] : [],
        podIP,
        podIPs: podIP ? [{ ip: podIP }] : [],
        startTime,
        qosClass: podQOSClass(pod),
        containerStatuses: statuses,
        initContainerStatuses: initStatuses,
        ephemeralContainerStatuses: ephemeralStatuses,
        observedGeneration: pod.metadata?.generation,
      }),
      terminated,
    );
  }

  /** Hands a status to status-reporter with a version that only grows per pod: max(now in µs, last + 1). */
  private async publishStatus(pod: V1Pod, status: ReturnType<typeof toWirePodStatus>, terminated: boolean, rejected = false): Promise<void> {
    const uid = pod.metadata!.uid!;
    const record = this.ensureRecord(uid);
    record.lastStatus = status;
    const now = BigInt(this.clock.now()) * 1000n;
    const version = now > record.version ? now : record.version + 1n;
    record.version = version;
    // A static pod's goes to its mirror pod, once there is one (the status manager's
    // translation); until then nowhere, as the kubelet's.
    const target = this.statusTarget(pod);
    if (!target) return;
    // Into the status stream, which keeps each pod's latest status for status-reporter
    // (also while it is away); the message id makes a repeat a no-op.
    const update = { podUid: target.uid, namespace: pod.metadata!.namespace!, name: pod.metadata!.name!, version, terminated: target.terminated ?? terminated, rejected, status };
    try {
      await publishEnsuring(this.nc, () => ensureStatusStream(this.nc, this.nodeName), podStatusSubject(this.nodeName, target.uid), statusv1.PodStatusUpdateSchema, update, { msgId: `${target.uid}:${version}` });
    } catch (err) {
      // Every sync (a resync at the latest) hands the pod's status over again.
      this.logger.warn({ uid, err: (err as Error).message }, 'the status stream did not take the pod status; the next sync hands it over again');
    }
  }

  private containerStatus(pod: V1Pod, c: V1Container, containers: ContainerStatus[], failure: SyncFailure | undefined, waitingReason: string): V1ContainerStatus {
    const { name } = c;
    const image = c.image ?? '';
    const mine = containers.filter((x) => x.metadata?.name === name);
    const [latest, before] = mine;
    // The last termination is the previous instance's only once it has exited (as the kubelet's).
    const previous = before?.state === ContainerState.EXITED ? before : undefined;
    const terminatedOf = (x: ContainerStatus) => ({
      terminated: { exitCode: x.exitCode, reason: x.reason, message: x.message || undefined, startedAt: toKubeTime(x.startedAt)!, finishedAt: toKubeTime(x.finishedAt)!, containerID: `docker://${x.id}` },
    });
    const base = {
      name,
      image,
      imageID: latest?.imageRef ?? '',
      containerID: latest ? `docker://${latest.id}` : undefined,
      restartCount: latest?.metadata?.attempt ?? 0,
      ...(c.volumeMounts?.length ? { volumeMounts: volumeMountStatuses(c) } : {}),
    };
    if (latest?.state === ContainerState.RUNNING) {
      const { ready, started } = this.probes.readiness(pod.metadata!.uid!, c, latest.id);
      return {
        ...base,
        ready: ready && !pod.metadata?.deletionTimestamp,
        started,
        state: { running: { startedAt: toKubeTime(latest.startedAt)! } },
        lastState: previous ? terminatedOf(previous) : {},
        resources: runningResources(c),
      };
    }
    if (latest?.state === ContainerState.EXITED) {
      const record = this.recordOf(pod.metadata!.uid!);
      const policy = pod.spec?.restartPolicy ?? 'Always';
      const willRestart = policy === 'Always' || (policy === 'OnFailure' && latest.exitCode !== 0);
      // The kubelet's reason cache: the status a sync generates comes before its actions, so
      // why a sync could not restart the container (its back-off, a failed postStart...)
      // shows from the next sync on, until a start succeeds; until then it shows terminated.
      // The reason is about the instance the sync found: once this sync started a new one
      // (its start forgot the reason) the new instance's exit shows terminated, with the
      // one before as lastState — not the old reason over the new exit, which the next
      // sync's status would take back (lastState stepping back to the older instance).
      const cached = record?.reasons.has(name) ? record.shown.get(name) : undefined;
      if (willRestart && cached && !pod.metadata?.deletionTimestamp) {
        return { ...base, ready: false, started: false, state: { waiting: { reason: cached.reason, message: cached.message || undefined } }, lastState: terminatedOf(latest) };
      }
      return { ...base, ready: false, started: false, state: terminatedOf(latest), lastState: previous ? terminatedOf(previous) : {} };
    }
    const waiting = failure ?? { reason: waitingReason, message: '' };
    return { ...base, ready: false, started: false, state: { waiting: { reason: waiting.reason, message: waiting.message || undefined } }, lastState: latest && previous ? terminatedOf(previous) : {} };
  }
}

const key = (pod: V1Pod) => `${pod.metadata?.namespace}/${pod.metadata?.name}`;

/** What of a record is worth keeping at once when it changes: its back-off and reason cache (and when the back-off ends). */
const keptOf = (r: Pick<PodRecord, 'backoff' | 'reasons' | 'backoffDueAt'>): string => JSON.stringify([[...r.backoff], [...r.reasons], r.backoffDueAt ?? 0]);
/** A new record's: nothing worth keeping yet. */
const NOTHING_KEPT = keptOf({ backoff: new Map(), reasons: new Map() });

/** kubetypes.SortedContainerStatuses: by name, as Go compares strings (bytes). */
const byName = (a: V1ContainerStatus, b: V1ContainerStatus) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0);

/**
 * Whether every app container has run and none is to run again (the kubelet's
 * computePodActions keepCount 0 with nothing to start): each one's newest instance
 * has exited and its restart policy does not restart it.
 */
function appContainersDone(pod: V1Pod, containers: ContainerStatus[]): boolean {
  const policy = pod.spec?.restartPolicy ?? 'Always';
  return (pod.spec?.containers ?? []).every((c) => {
    const latest = containers.find((x) => x.metadata?.name === c.name);
    if (latest?.state !== ContainerState.EXITED) return false;
    return policy === 'Never' || (policy === 'OnFailure' && latest.exitCode === 0);
  });
}

/**
 * The container's mounts as the kubelet reports them (RecursiveReadOnlyMounts, GA):
 * name, path, readOnly, and for a read-only mount its recursive mode — Disabled, since
 * this runtime does not make read-only mounts recursive (IfPossible resolves to that).
 */
function volumeMountStatuses(c: V1Container): V1VolumeMountStatus[] {
  return (c.volumeMounts ?? []).map((m) => ({ name: m.name, mountPath: m.mountPath, ...(m.readOnly ? { readOnly: true, recursiveReadOnly: 'Disabled' } : {}) }));
}

/** The kubelet's convertContainerStatusResources (InPlacePodVerticalScaling, GA) for a running container: its cpu, memory and ephemeral-storage limits and requests. */
function runningResources(c: V1Container): V1ResourceRequirements {
  const pick = (list: Record<string, string> | undefined) => {
    const out = Object.fromEntries(['cpu', 'ephemeral-storage', 'memory'].filter((r) => list?.[r] !== undefined).map((r) => [r, String(list![r])]));
    return Object.keys(out).length ? out : undefined;
  };
  const limits = pick(c.resources?.limits as Record<string, string> | undefined);
  const requests = pick(c.resources?.requests as Record<string, string> | undefined);
  return { ...(limits ? { limits } : {}), ...(requests ? { requests } : {}) } as V1ResourceRequirements;
}

const asSandboxView = (s: PodSandboxStatus) => ({ ready: s.state === PodSandboxState.READY, networkNamespace: s.hostNetwork ? ('NODE' as const) : ('POD' as const), ip: s.network?.ip ?? '' });
