import type { V1ContainerStatus, V1Pod } from '@kubernetes/client-node';
import { isRemoteError, type ServiceClient } from '@splitlet/bus';
import { ContainerState, PodSandboxState, type RuntimeService } from '@splitlet/contracts';
import type { Logger } from '@splitlet/telemetry';
import { Counter, Gauge, Histogram, Registry } from 'prom-client';

/** The kubelet's podStartupDurationBuckets (pkg/kubelet/metrics/metrics.go). */
const POD_STARTUP_BUCKETS = [0.5, 1, 2, 3, 4, 5, 6, 8, 10, 20, 30, 45, 60, 120, 180, 240, 300, 360, 480, 600, 900, 1200, 1800, 2700, 3600];

/** The CRI's (gRPC) status codes by number, as the kubelet labels a failed container start. */
const GRPC_CODES = ['OK', 'Canceled', 'Unknown', 'InvalidArgument', 'DeadlineExceeded', 'NotFound', 'AlreadyExists', 'PermissionDenied', 'ResourceExhausted', 'FailedPrecondition', 'Aborted', 'OutOfRange', 'Unimplemented', 'Internal', 'Unavailable', 'DataLoss', 'Unauthenticated'];

const CONTAINER_STATES: Record<ContainerState, string> = {
  [ContainerState.CREATED]: 'created',
  [ContainerState.RUNNING]: 'running',
  [ContainerState.EXITED]: 'exited',
  [ContainerState.UNKNOWN_UNSPECIFIED]: 'unknown',
};

export type ContainerType = 'container' | 'init_container' | 'ephemeral_container';

/**
 * What this process knows of one pod's start, in one record freed at forget(): when it
 * first synced it, and for the startup SLI (the kubelet's pod_startup_latency_tracker,
 * only for a pod first seen on the watch before it had a startTime) its image pulls and
 * when its generated status first had every container running.
 */
interface PodStart {
  firstSeen?: number;
  sli?: { firstStartedPulling?: number; lastFinishedPulling?: number; observedRunning?: number; recorded: boolean };
}

/** hasPodStartedSLO: each container has been started at least once (vacuously true without statuses). */
const allStarted = (statuses: V1ContainerStatus[] | undefined) => (statuses ?? []).every((cs) => cs.state?.running?.startedAt !== undefined);

/**
 * pod-sync's share of the kubelet's own metrics (pkg/kubelet/metrics/metrics.go), served
 * by node-api on /metrics: pods and containers started (kuberuntime_manager.go's
 * StartedPodsTotal around RunPodSandbox, StartedContainersTotal around a container's
 * create and start), the time from first seeing a pod to its first Running status
 * (kubelet.go's PodStartDuration), the startup SLI and total (pod_startup_latency_tracker.go), and the running pods and containers by state as
 * the runtime lists them at each scrape (the PLEG's updateRunningPodAndContainerMetrics).
 */
export class PodSyncMetrics {
  readonly registry = new Registry();
  private readonly startedPods = new Counter({ name: 'kubelet_started_pods_total', help: '[ALPHA] Cumulative number of pods started', registers: [this.registry] });
  private readonly startedPodsErrors = new Counter({ name: 'kubelet_started_pods_errors_total', help: '[ALPHA] Cumulative number of errors when starting pods', registers: [this.registry] });
  private readonly startedContainers = new Counter({
    name: 'kubelet_started_containers_total',
    help: '[ALPHA] Cumulative number of containers started',
    labelNames: ['container_type'] as const,
    registers: [this.registry],
  });
  private readonly startedContainersErrors = new Counter({
    name: 'kubelet_started_containers_errors_total',
    help: '[ALPHA] Cumulative number of errors when starting containers',
    labelNames: ['container_type', 'code'] as const,
    registers: [this.registry],
  });
  private readonly podStartDuration = new Histogram({
    name: 'kubelet_pod_start_duration_seconds',
    help: '[ALPHA] Duration in seconds from kubelet seeing a pod for the first time to the pod starting to run',
    buckets: POD_STARTUP_BUCKETS,
    registers: [this.registry],
  });
  private readonly podStartSli = new Histogram({
    name: 'kubelet_pod_start_sli_duration_seconds',
    help: '[ALPHA] Duration in seconds to start a pod, excluding time to pull images and run init containers, measured from pod creation timestamp to when all its containers are reported as started and observed via watch',
    buckets: POD_STARTUP_BUCKETS,
    registers: [this.registry],
  });
  private readonly podStartTotal = new Histogram({
    name: 'kubelet_pod_start_total_duration_seconds',
    help: '[ALPHA] Duration in seconds to start a pod since creation, including time to pull images and run init containers, measured from pod creation timestamp to when all its containers are reported as started and observed via watch',
    buckets: POD_STARTUP_BUCKETS,
    registers: [this.registry],
  });
  private readonly pods = new Map<string, PodStart>();

  /**
   * @param runtime lists the node's sandboxes and containers at each scrape; every
   * replica sees the same runtime, so those two gauges are taken once, not summed.
   */
  constructor(runtime: Pick<ServiceClient<typeof RuntimeService>, 'listPodSandbox' | 'listContainers'>, logger: Logger) {
    // One runtime listing per scrape serves both gauges (each collects before it is read).
    let listing: Promise<void> | undefined;
    const list = (): Promise<void> =>
      (listing ??= (async () => {
        try {
          const [{ items }, { containers }] = await Promise.all([runtime.listPodSandbox({}), runtime.listContainers({})]);
          const pods = new Set(items.filter((s) => s.state === PodSandboxState.READY).map((s) => s.metadata?.uid ?? s.id));
          runningPods.set(pods.size);
          const byState = new Map(Object.values(CONTAINER_STATES).map((s) => [s, 0]));
          for (const c of containers) {
            const state = CONTAINER_STATES[c.state] ?? 'unknown';
            byState.set(state, (byState.get(state) ?? 0) + 1);
          }
          for (const [state, n] of byState) runningContainers.set({ container_state: state }, n);
        } catch (err) {
          // The runtime away: the gauges keep their last values, as the kubelet's between relists.
          logger.warn({ err: (err as Error).message }, 'running pods and containers not counted: the runtime did not answer');
        }
      })().finally(() => (listing = undefined)));
    const runningPods = new Gauge({ name: 'kubelet_running_pods', help: '[ALPHA] Number of pods that have a running pod sandbox', registers: [this.registry], aggregator: 'first', collect: list });
    const runningContainers = new Gauge({
      name: 'kubelet_running_containers',
      help: '[ALPHA] Number of containers currently running',
      labelNames: ['container_state'] as const,
      registers: [this.registry],
      aggregator: 'first',
      collect: list,
    });
  }

  /** A sync is about to create the pod's sandbox (counted whether it succeeds, as the kubelet's). */
  sandboxStarting(): void {
    this.startedPods.inc();
  }

  sandboxFailed(): void {
    this.startedPodsErrors.inc();
  }

  /** A container is about to be created and started. */
  containerStarting(type: ContainerType): void {
    this.startedContainers.inc({ container_type: type });
  }

  /** Its create or start failed: labelled with the runtime's code (Unknown for anything else). */
  containerFailed(type: ContainerType, err: unknown): void {
    const code = isRemoteError(err) ? (GRPC_CODES[err.code] ?? 'Unknown') : 'Unknown';
    this.startedContainersErrors.inc({ container_type: type, code });
  }

  private record(uid: string): PodStart {
    let r = this.pods.get(uid);
    if (!r) this.pods.set(uid, (r = {}));
    return r;
  }

  /** The first time this process syncs a pod (the kubelet's config.seen annotation). */
  seen(uid: string, now: number): void {
    this.record(uid).firstSeen ??= now;
  }

  /**
   * The pod as the watch delivers it (ObservedPodOnWatch): a pod without a startTime is
   * tracked from here; once the generated status had every container running and the
   * watch shows the same, its start is observed once: from its creation to now, less
   * the time between the first image pull's start and the last one's end.
   */
  observedOnWatch(pod: V1Pod, now: number): void {
    const uid = pod.metadata?.uid;
    if (!uid) return;
    const phase = pod.status?.phase;
    if (phase === 'Succeeded' || phase === 'Failed') {
      const r = this.pods.get(uid);
      if (r) delete r.sli;
      return;
    }
    const r = this.pods.get(uid);
    if (!r?.sli) {
      if (!pod.status?.startTime) this.record(uid).sli = { recorded: false };
      return;
    }
    const sli = r.sli;
    if (sli.observedRunning === undefined || sli.recorded || !allStarted(pod.status?.containerStatuses)) return;
    const created = pod.metadata?.creationTimestamp ? new Date(pod.metadata.creationTimestamp).getTime() : undefined;
    if (created === undefined) return;
    const starting = Math.max(0, now - created);
    const pulling = sli.firstStartedPulling !== undefined && sli.lastFinishedPulling !== undefined ? sli.lastFinishedPulling - sli.firstStartedPulling : 0;
    this.podStartTotal.observe(starting / 1000);
    this.podStartSli.observe(Math.max(0, starting - pulling) / 1000);
    sli.recorded = true;
  }

  /** An image pull for the pod begins (RecordImageStartedPulling: the first one counts). */
  imagePullStarted(uid: string, now: number): void {
    const sli = this.pods.get(uid)?.sli;
    if (sli) sli.firstStartedPulling ??= now;
  }

  /** A pull for the pod succeeded (RecordImageFinishedPulling: the last one counts). */
  imagePullFinished(uid: string, now: number): void {
    const sli = this.pods.get(uid)?.sli;
    if (sli?.firstStartedPulling !== undefined) sli.lastFinishedPulling = now;
  }

  /** A status was generated (RecordStatusUpdated): the first with every container running marks the start. */
  statusUpdated(uid: string, statuses: V1ContainerStatus[], now: number): void {
    const sli = this.pods.get(uid)?.sli;
    if (sli && !sli.recorded && sli.observedRunning === undefined && allStarted(statuses)) sli.observedRunning = now;
  }

  /**
   * A status of the pod was generated: its first Running after a phase that was not
   * (as this worker or the API last knew it) observes the time since it was first seen.
   * After a restart the API's phase is already Running, so no start is counted twice.
   */
  phase(uid: string, before: string | undefined, now: string, at: number): void {
    const seen = this.pods.get(uid)?.firstSeen;
    if (seen !== undefined && now === 'Running' && before !== 'Running') this.podStartDuration.observe(Math.max(0, at - seen) / 1000);
  }

  /** The pod is gone: everything kept about it goes (DeletePodStartupState). */
  forget(uid: string): void {
    this.pods.delete(uid);
  }
}
