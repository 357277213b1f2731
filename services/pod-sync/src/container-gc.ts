import type { V1Pod } from '@kubernetes/client-node';
import { SpanKind, SpanStatusCode, trace } from '@opentelemetry/api';
import type { ServiceClient } from '@splitlet/bus';
import { ContainerState, PodSandboxState, type ContainerStatus, type PodSandboxStatus, type RuntimeService } from '@splitlet/contracts';
import { untilAborted, type Clock } from '@splitlet/service';
import { ATTR, type Logger } from '@splitlet/telemetry';

/** What the collector asks of the runtime: listing, and removing what is dead. */
export type GcRuntime = Pick<ServiceClient<typeof RuntimeService>, 'listContainers' | 'listPodSandbox' | 'stopContainer' | 'removeContainer' | 'stopPodSandbox' | 'removePodSandbox'>;

/** The pods bound to this node, as the informer holds them. */
export interface PodSource {
  /** Resolves once the first list is in (the kubelet's allSourcesReady). */
  readonly synced: Promise<void>;
  list(): readonly V1Pod[];
}

/**
 * The kubelet's ContainerGCPolicy (pkg/kubelet/container/container_gc.go). The
 * defaults are the kubelet's: --minimum-container-ttl-duration 0,
 * --maximum-dead-containers-per-container 1, --maximum-dead-containers -1.
 */
export interface ContainerGCPolicy {
  /** A dead container is collected only once it was created at least this long ago. */
  minAgeMs: number;
  /** Dead containers kept per evict unit (pod UID, container name); < 0: no limit. */
  maxPerPodContainer: number;
  /** Dead containers kept on the node in all; < 0: no limit. */
  maxContainers: number;
}

export const DEFAULT_CONTAINER_GC_POLICY: ContainerGCPolicy = { minAgeMs: 0, maxPerPodContainer: 1, maxContainers: -1 };

/** The kubelet's ContainerGCPeriod. */
export const DEFAULT_CONTAINER_GC_PERIOD_MS = 60_000;

/** One dead container considered for removal (containerGCInfo). */
interface GcInfo {
  id: string;
  name: string;
  /** Unix nanoseconds. */
  createdAt: bigint;
  attempt: number;
  /** In no state the runtime knows: stopped before it is removed. */
  unknown: boolean;
}

/** What one collection removed. */
export interface GcResult {
  containers: number;
  sandboxes: number;
}

const tracer = trace.getTracer('pod-sync');
const UID_LABEL = 'io.kubernetes.pod.uid';

/** Newest first: by creation time, then attempt (the kubelet's byCreated). */
const newestFirst = (a: { createdAt: bigint; attempt?: number }, b: { createdAt: bigint; attempt?: number }) =>
  a.createdAt !== b.createdAt ? (b.createdAt > a.createdAt ? 1 : -1) : (b.attempt ?? 0) - (a.attempt ?? 0);

/**
 * The kubelet's container garbage collection (kuberuntime_gc.go), every
 * ContainerGCPeriod once the node's pods are known:
 *
 * - evictable containers: not running, created at least MinAge ago, grouped in evict
 *   units (pod UID, container name) — init containers are units like any other;
 * - a pod that no longer exists (not in the informer any more: status-reporter deletes
 *   the object only after pod-sync reported it terminated, so gone means deleted and
 *   terminated — the kubelet's ShouldPodContentBeRemoved) loses all its evictable
 *   containers;
 * - every other unit keeps its newest MaxPerPodContainer dead containers, the older are
 *   removed oldest first; then, past MaxContainers, units are cut to an equal share
 *   (at least 1) and then the oldest go node-wide;
 * - sandboxes (evictSandboxes): one that is not ready and that no container refers to
 *   is removed, except that a pod that still exists keeps its newest sandbox;
 * - deleteAllUnusedContainers (the eviction manager's reclaim under disk pressure) also
 *   takes every evictable container and sandbox of a finished pod that still exists;
 *   before the informer has listed, no pod counts as deleted.
 *
 * With the default policy the newest dead instance of each container of a live pod is
 * kept: it is the one the pod status's lastState (or terminated state) comes from, and
 * restartCount is the newest instance's attempt, so a collection changes nothing the
 * status shows. One guard the kubelet does not have: the newest instance of a unit
 * when it is CREATED is not evictable while the pod exists (a sync is between create
 * and start; removing the older exited instance then would take the lastState away).
 */
export class ContainerGC {
  constructor(
    private readonly runtime: GcRuntime,
    private readonly pods: PodSource,
    private readonly clock: Clock,
    private readonly logger: Logger,
    private readonly nodeName: string,
    private readonly policy: ContainerGCPolicy = DEFAULT_CONTAINER_GC_POLICY,
    /** pod-sync's own word that a pod finished (its last status is terminal), ahead of the informer's copy. */
    private readonly finishedHere: (pod: V1Pod) => boolean = () => false,
  ) {
    if (policy.minAgeMs < 0) throw new Error(`invalid minimum garbage collection age: ${policy.minAgeMs}ms`);
    void pods.synced.then(() => (this.podsKnown = true), () => undefined);
  }

  /** The informer has listed (the kubelet's allSourcesReady): before, no pod counts as deleted. */
  private podsKnown = false;

  /**
   * Collects every periodMs, the first time a period after the pods are known (never
   * before: every container would look like a deleted pod's), until the signal aborts.
   */
  async run(signal: AbortSignal, periodMs = DEFAULT_CONTAINER_GC_PERIOD_MS, nodeWarning?: (reason: string, message: string) => void): Promise<void> {
    await Promise.race([this.pods.synced, untilAborted(signal)]);
    while (!signal.aborted) {
      await this.clock.sleep(periodMs, signal).catch(() => undefined);
      if (signal.aborted) break;
      await this.garbageCollect().catch((err: unknown) => {
        // Every failure is an Event on the Node, as the kubelet's StartGarbageCollection records it.
        this.logger.warn({ err: (err as Error).message }, 'container garbage collection failed');
        nodeWarning?.('ContainerGCFailed', (err as Error).message);
      });
    }
  }

  /**
   * DeleteAllUnusedContainers, the eviction manager's reclaim under disk pressure: a
   * collection that also takes every dead container and inactive sandbox of a finished
   * pod that still exists (evictNonDeletedPods: ShouldPodRuntimeBeRemoved). A running
   * pod keeps its newest dead instances, as in any collection.
   */
  deleteAllUnusedContainers(): Promise<GcResult> {
    return this.garbageCollect(true);
  }

  /** One collection (GarbageCollect), in a span of its own: containers, then sandboxes. */
  garbageCollect(evictNonDeletedPods = false): Promise<GcResult> {
    const attributes = { [ATTR.nodeName]: this.nodeName, 'splitlet.gc.evict_non_deleted_pods': evictNonDeletedPods };
    return tracer.startActiveSpan('pod-sync container gc', { kind: SpanKind.INTERNAL, root: true, attributes }, async (span) => {
      const errors: Error[] = [];
      const result: GcResult = { containers: 0, sandboxes: 0 };
      try {
        result.containers = await this.evictContainers(evictNonDeletedPods).catch((err: unknown) => (errors.push(err as Error), 0));
        result.sandboxes = await this.evictSandboxes(evictNonDeletedPods).catch((err: unknown) => (errors.push(err as Error), 0));
        span.setAttribute('splitlet.gc.containers_removed', result.containers);
        span.setAttribute('splitlet.gc.sandboxes_removed', result.sandboxes);
        if (result.containers || result.sandboxes) this.logger.info(result, 'removed dead containers and sandboxes');
        if (errors.length) {
          span.setStatus({ code: SpanStatusCode.ERROR, message: errors.map((e) => e.message).join('; ') });
          throw new Error(errors.map((e) => e.message).join('; '));
        }
        return result;
      } finally {
        span.end();
      }
    });
  }

  /** The pods that exist, read after the runtime was listed: anything listed belongs to a pod the informer already had. */
  private existingPods(): Set<string> {
    return new Set(this.pods.list().map((p) => p.metadata?.uid ?? '').filter(Boolean));
  }

  /**
   * The pods that exist and have finished (Succeeded or Failed, as pod-sync last
   * generated it or the informer shows it): their runtime may go (ShouldPodRuntimeBeRemoved).
   */
  private finishedPods(): Set<string> {
    return new Set(
      this.pods
        .list()
        .filter((p) => ['Succeeded', 'Failed'].includes(p.status?.phase ?? '') || this.finishedHere(p))
        .map((p) => p.metadata?.uid ?? ''),
    );
  }

  /**
   * evictContainers: once the pods are known, deleted pods' dead containers (and with
   * evictNonDeletedPods finished pods' too), then MaxPerPodContainer, then MaxContainers.
   */
  private async evictContainers(evictNonDeletedPods: boolean): Promise<number> {
    const { containers } = await this.runtime.listContainers({});
    const existing = this.existingPods();
    const finished = this.finishedPods();
    const units = this.evictableContainers(containers, existing);
    let removed = 0;
    for (const [key, unit] of units) {
      const uid = unitUid(key);
      if (!this.podsKnown || (existing.has(uid) && !(evictNonDeletedPods && finished.has(uid)))) continue;
      removed += await this.removeOldestN(unit, unit.length);
      units.delete(key);
    }
    const { maxPerPodContainer, maxContainers } = this.policy;
    if (maxPerPodContainer >= 0) removed += await this.enforceMaxPerUnit(units, maxPerPodContainer);
    const count = () => [...units.values()].reduce((n, u) => n + u.length, 0);
    if (maxContainers >= 0 && count() > maxContainers) {
      // An equal share per unit (at least 1), then the oldest node-wide.
      removed += await this.enforceMaxPerUnit(units, Math.max(1, Math.floor(maxContainers / units.size)));
      const left = count();
      if (left > maxContainers) removed += await this.removeOldestN([...units.values()].flat().sort(newestFirst), left - maxContainers);
    }
    return removed;
  }

  /**
   * evictableContainers: not running and created at least MinAge ago, by evict unit.
   * The newest instance of a live pod's unit, when CREATED, is left alone (see the class).
   */
  private evictableContainers(containers: ContainerStatus[], existing: Set<string>): Map<string, GcInfo[]> {
    const newestGcTime = BigInt(this.clock.now() - this.policy.minAgeMs) * 1_000_000n;
    const newest = new Map<string, ContainerStatus>();
    for (const c of containers) {
      const key = unitKey(c);
      const n = newest.get(key);
      if (!n || newestFirst(asOrder(c), asOrder(n)) < 0) newest.set(key, c);
    }
    const units = new Map<string, GcInfo[]>();
    for (const c of containers) {
      if (c.state === ContainerState.RUNNING || !c.labels[UID_LABEL]) continue;
      if (c.createdAt > newestGcTime) continue;
      const key = unitKey(c);
      if (c.state === ContainerState.CREATED && newest.get(key) === c && existing.has(unitUid(key))) continue;
      const info: GcInfo = { id: c.id, name: c.metadata?.name ?? '', createdAt: c.createdAt, attempt: c.metadata?.attempt ?? 0, unknown: c.state === ContainerState.UNKNOWN_UNSPECIFIED };
      units.set(key, [...(units.get(key) ?? []), info]);
    }
    return units;
  }

  private async enforceMaxPerUnit(units: Map<string, GcInfo[]>, max: number): Promise<number> {
    let removed = 0;
    for (const [key, unit] of units) {
      const toRemove = unit.length - max;
      if (toRemove <= 0) continue;
      removed += await this.removeOldestN(unit, toRemove);
      units.set(key, unit.slice(0, unit.length - toRemove));
    }
    return removed;
  }

  /**
   * removeOldestN: sorts the list newest first (in place) and removes the last n, oldest
   * first. A failure is logged and the container counted as gone, so a collection is not
   * too aggressive elsewhere (as the kubelet); the next collection tries again.
   */
  private async removeOldestN(list: GcInfo[], n: number): Promise<number> {
    list.sort(newestFirst);
    let removed = 0;
    for (let i = list.length - 1; i >= list.length - n; i--) {
      const c = list[i]!;
      try {
        // A container in an unknown state may be running: stopped first, as the kubelet does.
        if (c.unknown) await this.runtime.stopContainer({ containerId: c.id, timeout: 0n });
        await this.runtime.removeContainer({ containerId: c.id });
        removed++;
        this.logger.debug({ container: c.id, name: c.name, attempt: c.attempt }, 'removed a dead container');
      } catch (err) {
        this.logger.warn({ container: c.id, name: c.name, err: (err as Error).message }, 'could not remove a dead container');
      }
    }
    return removed;
  }

  /**
   * evictSandboxes: a sandbox is active when ready or when a container still refers to
   * it; of the inactive ones, a pod that exists keeps its newest sandbox, a deleted pod
   * keeps none. The containers are listed again, after the containers were collected.
   */
  private async evictSandboxes(evictNonDeletedPods: boolean): Promise<number> {
    const { containers } = await this.runtime.listContainers({});
    const { items } = await this.runtime.listPodSandbox({});
    const existing = this.existingPods();
    const finished = this.finishedPods();
    const referred = new Set(containers.map((c) => c.podSandboxId));
    const byPod = new Map<string, PodSandboxStatus[]>();
    for (const s of items) {
      const uid = s.metadata?.uid ?? '';
      if (!uid) continue;
      byPod.set(uid, [...(byPod.get(uid) ?? []), s]);
    }
    let removed = 0;
    for (const [uid, sandboxes] of byPod) {
      sandboxes.sort((a, b) => newestFirst(asOrder(a), asOrder(b)));
      // Before the pods are known every pod counts as existing.
      const keep = !this.podsKnown || (existing.has(uid) && !(evictNonDeletedPods && finished.has(uid))) ? 1 : 0;
      for (const s of sandboxes.slice(keep).reverse()) {
        if (s.state === PodSandboxState.READY || referred.has(s.id)) continue;
        try {
          // Stopped first in case it is not (as the kubelet's removeSandbox).
          await this.runtime.stopPodSandbox({ podSandboxId: s.id });
          await this.runtime.removePodSandbox({ podSandboxId: s.id });
          removed++;
          this.logger.debug({ sandbox: s.id, uid }, 'removed a dead sandbox');
        } catch (err) {
          this.logger.warn({ sandbox: s.id, uid, err: (err as Error).message }, 'could not remove a dead sandbox');
        }
      }
    }
    return removed;
  }
}

const unitKey = (c: ContainerStatus) => `${c.labels[UID_LABEL] ?? ''}/${c.metadata?.name ?? ''}`;
const unitUid = (key: string) => key.slice(0, key.indexOf('/'));
const asOrder = (x: ContainerStatus | PodSandboxStatus) => ({ createdAt: x.createdAt, attempt: x.metadata?.attempt ?? 0 });
