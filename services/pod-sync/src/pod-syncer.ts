import type { V1Container, V1ContainerStatus, V1Pod } from '@kubernetes/client-node';
import type { NatsConnection } from '@nats-io/transport-node';
import { SpanKind, trace } from '@opentelemetry/api';
import { inject, injectable } from 'tsyringe';
import { containerFieldPath, isRemoteError, podStatusSubject, publish, recordPodEvent, type ServiceClient } from '@splitlet/bus';
import { ContainerState, PodSandboxState, statusv1, type ContainerStatus, type ImageService, type PodSandboxStatus, type RuntimeService } from '@splitlet/contracts';
import {
  generateContainersReadyCondition,
  generatePodInitializedCondition,
  generatePodReadyCondition,
  generatePodReadyToStartContainersCondition,
  mergeConditions,
  podPhase,
  podQOSClass,
  podSandboxChange,
  toWirePodStatus,
} from '@splitlet/pod-status';
import { TOKENS, type Clock } from '@splitlet/service';
import { ATTR, type Logger } from '@splitlet/telemetry';
import { ContainerInputs } from './container-inputs';
import { containerConfig, sandboxConfig, type DnsSettings } from './runtime-config';
import { SYNC } from './tokens';
import type { VolumeManager } from './volumes/volume-manager';

type Runtime = ServiceClient<typeof RuntimeService>;
type Images = ServiceClient<typeof ImageService>;

/** The kubelet's crash-loop back-off: 10 s doubling to 5 min, forgotten after 10 min of running. */
export const BACKOFF_INITIAL_MS = 10_000;
export const BACKOFF_MAX_MS = 300_000;
const BACKOFF_RESET_MS = 600_000;

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
@injectable()
export class PodSyncer {
  private readonly versions = new Map<string, bigint>();
  private readonly backoff = new Map<string, { delayMs: number; until: number }>();

  constructor(
    @inject(SYNC.Runtime) private readonly runtime: Runtime,
    @inject(SYNC.Images) private readonly images: Images,
    @inject(SYNC.Dns) private readonly dns: DnsSettings,
    @inject(SYNC.NodeIP) private readonly nodeIP: () => Promise<string>,
    @inject(TOKENS.Nats) private readonly nc: NatsConnection,
    @inject(TOKENS.NodeName) private readonly nodeName: string,
    @inject(TOKENS.Clock) private readonly clock: Clock,
    @inject(TOKENS.Logger) private readonly logger: Logger,
    @inject(SYNC.Volumes) private readonly volumes: VolumeManager,
    @inject(ContainerInputs) private readonly inputs: ContainerInputs,
  ) {}

  /** Records an Event about the pod (or one of its containers), as the kubelet's recorder. */
  private event(pod: V1Pod, type: 'Normal' | 'Warning', reason: string, message: string, container?: string, init = false): void {
    const m = pod.metadata!;
    recordPodEvent(this.nc, this.nodeName, { namespace: m.namespace!, name: m.name!, uid: m.uid!, resourceVersion: m.resourceVersion, ...(container ? { fieldPath: containerFieldPath(container, init) } : {}) }, type, reason, message);
  }

  /** One sync of the pod; never throws (a failed sync is retried by the next one). */
  sync(pod: V1Pod): Promise<void> {
    const attributes = { [ATTR.podUid]: pod.metadata?.uid ?? '', [ATTR.podName]: pod.metadata?.name ?? '', [ATTR.namespace]: pod.metadata?.namespace ?? '', [ATTR.nodeName]: this.nodeName };
    return tracer.startActiveSpan(pod.metadata?.deletionTimestamp ? 'pod-sync terminate pod' : 'pod-sync sync pod', { kind: SpanKind.INTERNAL, attributes }, async (span) => {
      try {
        if (pod.metadata?.deletionTimestamp) await this.terminate(pod);
        else await this.syncRunning(pod);
      } catch (err) {
        this.logger.warn({ pod: key(pod), err: (err as Error).message }, 'pod sync failed; the next sync retries');
      } finally {
        span.end();
      }
    });
  }

  private async syncRunning(pod: V1Pod): Promise<void> {
    const uid = pod.metadata!.uid!;
    if (this.pastActiveDeadline(pod)) return this.failForDeadline(pod);
    // A pod that has finished (Succeeded, or Failed for good) is not run again: its
    // sandbox is stopped and its final status kept (the pod worker's terminated state).
    if (pod.status?.phase === 'Succeeded' || pod.status?.phase === 'Failed') return this.syncTerminal(pod);
    // WaitForAttachAndMount: no container starts before all the pod's volumes are there (FailedMount otherwise).
    const volumeCtx = { podIP: pod.status?.podIP ?? '', hostIP: await this.nodeIP(), nodeName: this.nodeName };
    if (!(await this.volumes.setUp(pod, volumeCtx))) return this.report(pod, await this.sandboxesOf(uid), await this.containersOf(uid), new Map(), false);
    const sandboxes = await this.sandboxesOf(uid);
    const change = podSandboxChange(pod, sandboxes.map(asSandboxView));
    let sandbox = sandboxes[0];
    if (change) {
      // A new sandbox means new containers too (the kubelet kills the pod first).
      for (const s of sandboxes.filter((x) => x.state === PodSandboxState.READY)) await this.runtime.stopPodSandbox({ podSandboxId: s.id });
      if (sandbox) this.event(pod, 'Normal', 'SandboxChanged', 'Pod sandbox changed, it will be killed and re-created.');
      const attempt = sandbox ? sandbox.metadata!.attempt + 1 : 0;
      const { podSandboxId } = await this.runtime.runPodSandbox({ config: sandboxConfig(pod, attempt, this.dns) });
      sandbox = (await this.runtime.podSandboxStatus({ podSandboxId })).status;
      this.logger.info({ pod: key(pod), sandbox: podSandboxId, reason: change }, 'pod sandbox started');
    }
    const failures = new Map<string, SyncFailure>();
    const containers = await this.containersOf(uid);
    if (!(await this.syncInitContainers(pod, sandbox!, containers, failures))) {
      await this.report(pod, sandbox ? [sandbox] : [], await this.containersOf(uid), failures, false);
      return;
    }
    for (const c of pod.spec?.containers ?? []) {
      const mine = containers.filter((x) => x.metadata?.name === c.name);
      const latest = mine[0];
      try {
        if (latest?.state === ContainerState.RUNNING) continue;
        if (latest?.state === ContainerState.CREATED) {
          await this.runtime.startContainer({ containerId: latest.id });
          continue;
        }
        if (latest?.state === ContainerState.EXITED) {
          const policy = pod.spec?.restartPolicy ?? 'Always';
          if (policy === 'Never' || (policy === 'OnFailure' && latest.exitCode === 0)) continue;
          if (this.inBackoff(pod, c.name, latest)) continue;
        }
        await this.startNew(pod, c, sandbox!, latest ? latest.metadata!.attempt + 1 : 0);
      } catch (err) {
        failures.set(c.name, this.failureOf(err));
      }
    }
    await this.report(pod, sandbox ? [sandbox] : [], await this.containersOf(uid), failures, false);
  }

  /**
   * Init containers one at a time, in order (computeInitContainerActions): a regular
   * one must exit 0 before the next starts; a sidecar (restartPolicy Always) need only
   * be running, and is restarted when it exits. True once all are done, so the app
   * containers may start.
   */
  private async syncInitContainers(pod: V1Pod, sandbox: PodSandboxStatus, containers: ContainerStatus[], failures: Map<string, SyncFailure>): Promise<boolean> {
    for (const c of pod.spec?.initContainers ?? []) {
      const latest = containers.find((x) => x.metadata?.name === c.name);
      const sidecar = c.restartPolicy === 'Always';
      try {
        if (latest?.state === ContainerState.RUNNING) {
          if (sidecar) continue;
          return false; // wait for it to finish
        }
        if (latest?.state === ContainerState.CREATED) {
          await this.runtime.startContainer({ containerId: latest.id });
          if (sidecar) continue;
          return false;
        }
        if (latest?.state === ContainerState.EXITED) {
          if (!sidecar && latest.exitCode === 0) continue; // completed
          if (!sidecar && (pod.spec?.restartPolicy ?? 'Always') === 'Never') return false; // the pod has failed
          if (this.inBackoff(pod, c.name, latest)) return false;
        }
        await this.startNew(pod, c, sandbox, latest ? latest.metadata!.attempt + 1 : 0);
        if (!sidecar) return false;
      } catch (err) {
        failures.set(c.name, this.failureOf(err));
        return false;
      }
    }
    return true;
  }

  /** Whether the container must wait before its next start (CrashLoopBackOff); starts the clock on the first exit. */
  private inBackoff(pod: V1Pod, name: string, exited: ContainerStatus): boolean {
    const k = `${pod.metadata!.uid}/${name}`;
    const now = this.clock.now();
    const ranFor = Number((exited.finishedAt - exited.startedAt) / 1_000_000n);
    let b = this.backoff.get(k);
    if (b && ranFor >= BACKOFF_RESET_MS) b = undefined;
    if (b && now < b.until) {
      this.event(pod, 'Warning', 'BackOff', `Back-off restarting failed container ${name} in pod ${formatPod(pod)}`, name, (pod.spec?.initContainers ?? []).some((c) => c.name === name));
      return true;
    }
    const delayMs = b ? Math.min(b.delayMs * 2, BACKOFF_MAX_MS) : BACKOFF_INITIAL_MS;
    // The first restart happens at once; the back-off then applies to the next one.
    this.backoff.set(k, { delayMs: b ? delayMs : BACKOFF_INITIAL_MS, until: now + (b ? delayMs : BACKOFF_INITIAL_MS) });
    return false;
  }

  private async startNew(pod: V1Pod, c: V1Container, sandbox: PodSandboxStatus, attempt: number): Promise<void> {
    const init = (pod.spec?.initContainers ?? []).includes(c);
    const image = c.image ?? '';
    const ev = (type: 'Normal' | 'Warning', reason: string, message: string) => this.event(pod, type, reason, message, c.name, init);
    const policy = c.imagePullPolicy ?? (image.endsWith(':latest') || !/:[^/]+$/.test(image) ? 'Always' : 'IfNotPresent');
    const present = (await this.images.imageStatus({ image: { image } })).image;
    if (policy === 'Never' && !present) {
      const message = `Container image "${image}" is not present with pull policy of Never`;
      ev('Warning', 'ErrImageNeverPull', message);
      ev('Warning', 'Failed', 'Error: ErrImageNeverPull');
      throw Object.assign(new Error(message), { waiting: 'ErrImageNeverPull' });
    }
    if (policy === 'Always' || !present) {
      const started = this.clock.now();
      ev('Normal', 'Pulling', `Pulling image "${image}"`);
      try {
        await this.images.pullImage({ image: { image } });
        const took = ((this.clock.now() - started) / 1000).toFixed(3);
        const size = (await this.images.imageStatus({ image: { image } })).image?.size ?? 0n;
        ev('Normal', 'Pulled', `Successfully pulled image "${image}" in ${took}s (${took}s including waiting). Image size: ${size} bytes.`);
      } catch (err) {
        const e = err as Error & { description?: string };
        ev('Warning', 'Failed', `Failed to pull image "${image}": ${e.description ?? e.message}`);
        ev('Warning', 'Failed', 'Error: ErrImagePull');
        // A present image that cannot be pulled again is still usable under Always.
        if (!(policy === 'Always' && present)) throw Object.assign(e, { waiting: 'ErrImagePull' });
      }
    } else {
      ev('Normal', 'Pulled', `Container image "${image}" already present on machine`);
    }
    let containerId: string;
    try {
      const hostIP = await this.nodeIP();
      const envCtx = { podIP: pod.spec?.hostNetwork ? hostIP : (sandbox.network?.ip ?? ''), hostIP, nodeName: this.nodeName };
      const inputs = await this.inputs.resolve(pod, c, envCtx);
      ({ containerId } = await this.runtime.createContainer({
        podSandboxId: sandbox.id,
        config: containerConfig(pod, c, attempt, envCtx, inputs),
        sandboxConfig: sandboxConfig(pod, sandbox.metadata!.attempt, this.dns),
      }));
    } catch (err) {
      const e = err as Error & { description?: string; waiting?: string };
      ev('Warning', 'Failed', `Error: ${e.description ?? e.message}`);
      throw Object.assign(e, { waiting: e.waiting ?? (isRemoteError(err) && err.code === 9 ? 'CreateContainerConfigError' : 'CreateContainerError') });
    }
    ev('Normal', 'Created', `Created container: ${c.name}`);
    try {
      await this.runtime.startContainer({ containerId });
    } catch (err) {
      const e = err as Error & { description?: string };
      ev('Warning', 'Failed', `Error: ${e.description ?? e.message}`);
      throw Object.assign(e, { waiting: 'RunContainerError' });
    }
    ev('Normal', 'Started', `Started container ${c.name}`);
  }

  private failureOf(err: unknown): SyncFailure {
    const e = err as Error & { waiting?: string; description?: string };
    return { reason: e.waiting ?? 'CreateContainerError', message: e.description ?? e.message };
  }

  private async syncTerminal(pod: V1Pod): Promise<void> {
    const uid = pod.metadata!.uid!;
    for (const s of await this.sandboxesOf(uid)) if (s.state === PodSandboxState.READY) await this.runtime.stopPodSandbox({ podSandboxId: s.id });
    await this.volumes.tearDown(uid); // a finished pod's volumes go now, as the kubelet's for terminated pods
    const reason = pod.status?.reason ? { phase: pod.status.phase!, reason: pod.status.reason, message: pod.status.message ?? '' } : undefined;
    await this.report(pod, await this.sandboxesOf(uid), await this.containersOf(uid), new Map(), false, reason);
  }

  /** activeDeadlineSeconds counts from the pod's startTime (the kubelet's activeDeadlineHandler). */
  private pastActiveDeadline(pod: V1Pod): boolean {
    const deadline = pod.spec?.activeDeadlineSeconds;
    const start = pod.status?.startTime;
    if (deadline === undefined || !start) return false;
    return this.clock.now() - new Date(start).getTime() >= deadline * 1000;
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
      for (const c of running) this.event(pod, 'Normal', 'Killing', `Stopping container ${c.metadata?.name}`, c.metadata?.name);
      await Promise.all(running.map((c) => this.runtime.stopContainer({ containerId: c.id, timeout: BigInt(grace) }, { timeoutMs: (grace + 30) * 1000 })));
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
    const running = (await this.containersOf(uid)).filter((c) => c.state === ContainerState.RUNNING);
    for (const c of running) {
      const name = c.metadata?.name ?? '';
      this.event(pod, 'Normal', 'Killing', `Stopping container ${name}`, name, (pod.spec?.initContainers ?? []).some((x) => x.name === name));
    }
    await Promise.all(
      running.map((c) => this.runtime.stopContainer({ containerId: c.id, timeout: BigInt(grace) }, { timeoutMs: (grace + 30) * 1000 })),
    );
    const sandboxes = await this.sandboxesOf(uid);
    const containers = await this.containersOf(uid);
    if (!sandboxes.length && !containers.length) {
      // Already torn down (a repeated sync, or pod-sync restarted meanwhile): nothing is
      // left to describe, so hand over the status the API has, marked terminated, for
      // status-reporter to complete the deletion — never a status rebuilt from nothing.
      await this.publishStatus(pod, toWirePodStatus(pod.status ?? {}), true);
      return;
    }
    for (const s of sandboxes) await this.runtime.stopPodSandbox({ podSandboxId: s.id });
    await this.report(pod, await this.sandboxesOf(uid), await this.containersOf(uid), new Map(), true);
    for (const s of sandboxes) await this.runtime.removePodSandbox({ podSandboxId: s.id });
    await this.volumes.tearDown(uid);
    for (const k of this.backoff.keys()) if (k.startsWith(`${uid}/`)) this.backoff.delete(k);
  }

  /** Removes what runs for a pod the API server no longer has. */
  async cleanup(uid: string): Promise<void> {
    for (const s of await this.sandboxesOf(uid)) {
      await this.runtime.stopPodSandbox({ podSandboxId: s.id });
      await this.runtime.removePodSandbox({ podSandboxId: s.id });
      this.logger.info({ uid, sandbox: s.id }, 'removed the sandbox of a pod that no longer exists');
    }
    await this.volumes.tearDown(uid);
    this.versions.delete(uid);
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
    override?: { phase: string; reason: string; message: string },
  ): Promise<void> {
    const now = this.clock.now();
    // A pod with init containers shows PodInitializing for what has not been created yet.
    const waitingReason = pod.spec?.initContainers?.length ? 'PodInitializing' : 'ContainerCreating';
    const statusesOf = (list: V1Container[] | undefined, init: boolean) =>
      (list ?? []).map((c) => {
        const st = this.containerStatus(pod, c.name, c.image ?? '', containers, failures.get(c.name), waitingReason);
        // A regular init container is ready once it has exited 0 (convertToAPIContainerStatuses).
        if (init && c.restartPolicy !== 'Always') st.ready = st.state?.terminated?.exitCode === 0;
        return st;
      });
    const statuses = statusesOf(pod.spec?.containers, false);
    const initStatuses = statusesOf(pod.spec?.initContainers, true);
    const all = [...statuses, ...initStatuses];
    const phase = override ? (override.phase as ReturnType<typeof podPhase>) : podPhase(pod, statuses, initStatuses, terminated);
    const sandboxView = sandboxes.map(asSandboxView);
    const generated = [generatePodReadyToStartContainersCondition(pod, sandboxView), generatePodInitializedCondition(pod, all, phase, { oldStatus: pod.status })];
    generated.push(generateContainersReadyCondition(pod, all, phase));
    generated.push(generatePodReadyCondition(pod, [...(pod.status?.conditions ?? []), ...generated], all, phase));
    const conditions = mergeConditions(pod.status?.conditions, generated, new Date(Math.floor(now / 1000) * 1000));
    const sandbox = sandboxes.find((s) => s.state === PodSandboxState.READY) ?? sandboxes[0];
    const hostIP = await this.nodeIP();
    const podIP = pod.spec?.hostNetwork ? hostIP : (sandbox?.network?.ip ?? '');
    const startTime = pod.status?.startTime ?? new Date(Math.floor(now / 1000) * 1000);
    await this.publishStatus(
      pod,
      toWirePodStatus({
        phase,
        reason: override?.reason,
        message: override?.message,
        conditions,
        hostIP,
        hostIPs: hostIP ? [{ ip: hostIP }] : [],
        podIP,
        podIPs: podIP ? [{ ip: podIP }] : [],
        startTime,
        qosClass: podQOSClass(pod),
        containerStatuses: statuses,
        initContainerStatuses: initStatuses,
        observedGeneration: pod.metadata?.generation,
      }),
      terminated,
    );
  }

  /** Hands a status to status-reporter with a version that only grows per pod: max(now in µs, last + 1). */
  private async publishStatus(pod: V1Pod, status: ReturnType<typeof toWirePodStatus>, terminated: boolean): Promise<void> {
    const uid = pod.metadata!.uid!;
    const last = this.versions.get(uid) ?? 0n;
    const now = BigInt(this.clock.now()) * 1000n;
    const version = now > last ? now : last + 1n;
    this.versions.set(uid, version);
    await publish(this.nc, podStatusSubject(this.nodeName), statusv1.PodStatusUpdateSchema, {
      podUid: uid,
      namespace: pod.metadata!.namespace!,
      name: pod.metadata!.name!,
      version,
      terminated,
      status,
    });
  }

  private containerStatus(pod: V1Pod, name: string, image: string, containers: ContainerStatus[], failure: SyncFailure | undefined, waitingReason: string): V1ContainerStatus {
    const mine = containers.filter((c) => c.metadata?.name === name);
    const [latest, previous] = mine;
    const terminatedOf = (c: ContainerStatus) => ({
      terminated: { exitCode: c.exitCode, reason: c.reason, message: c.message || undefined, startedAt: toKubeTime(c.startedAt)!, finishedAt: toKubeTime(c.finishedAt)!, containerID: `docker://${c.id}` },
    });
    const base = { name, image, imageID: latest?.imageRef ?? '', containerID: latest ? `docker://${latest.id}` : undefined, restartCount: latest?.metadata?.attempt ?? 0 };
    if (latest?.state === ContainerState.RUNNING) {
      return { ...base, ready: true, started: true, state: { running: { startedAt: toKubeTime(latest.startedAt)! } }, lastState: previous ? terminatedOf(previous) : {} };
    }
    if (latest?.state === ContainerState.EXITED) {
      const backoff = this.backoff.get(`${pod.metadata!.uid}/${name}`);
      const policy = pod.spec?.restartPolicy ?? 'Always';
      const willRestart = policy === 'Always' || (policy === 'OnFailure' && latest.exitCode !== 0);
      if (willRestart && backoff && this.clock.now() < backoff.until && !pod.metadata?.deletionTimestamp) {
        const message = `back-off ${Math.round(backoff.delayMs / 1000)}s restarting failed container=${name} pod=${formatPod(pod)}`;
        return { ...base, ready: false, started: false, state: { waiting: { reason: 'CrashLoopBackOff', message } }, lastState: terminatedOf(latest) };
      }
      return { ...base, ready: false, started: false, state: terminatedOf(latest), lastState: previous ? terminatedOf(previous) : {} };
    }
    const waiting = failure ?? { reason: waitingReason, message: '' };
    return { ...base, ready: false, started: false, state: { waiting: { reason: waiting.reason, message: waiting.message || undefined } }, lastState: latest && previous ? terminatedOf(previous) : {} };
  }
}

const key = (pod: V1Pod) => `${pod.metadata?.namespace}/${pod.metadata?.name}`;

/** format.Pod: name_namespace(uid), as the kubelet names a pod in messages. */
const formatPod = (pod: V1Pod) => `${pod.metadata?.name}_${pod.metadata?.namespace}(${pod.metadata?.uid})`;

const asSandboxView = (s: PodSandboxStatus) => ({ ready: s.state === PodSandboxState.READY, networkNamespace: s.hostNetwork ? ('NODE' as const) : ('POD' as const), ip: s.network?.ip ?? '' });
