import type { V1Pod } from '@kubernetes/client-node';
import type { KV } from '@nats-io/kv';
import { create, toBinary, type MessageShape } from '@bufbuild/protobuf';
import { kvGet, kvPut, NODE_SHUTDOWN_KEY, watchBucket } from '@splitlet/bus';
import { podsyncv1 } from '@splitlet/contracts';
import { goDuration, SYSTEM_CRITICAL_PRIORITY } from '@splitlet/eviction';
import { untilAborted, type Clock } from '@splitlet/service';
import type { Logger } from '@splitlet/telemetry';
import type { Eviction } from './pod-syncer';

// The kubelet's graceful node shutdown (pkg/kubelet/nodeshutdown), run by pod-sync: the
// pods are terminated in groups by priority, the lowest first, each group within its
// grace period; new pods are refused while the node shuts down; registrar turns the
// node NotReady from the state kept in the node's bucket.

export type NodeShutdownState = MessageShape<typeof podsyncv1.NodeShutdownStateSchema>;

/** nodeShutdownReason and nodeShutdownMessage: a terminated pod's status reason and message, and its DisruptionTarget condition's message. */
export const NODE_SHUTDOWN_REASON = 'Terminated';
export const NODE_SHUTDOWN_MESSAGE = 'Pod was terminated in response to imminent node shutdown.';
/** The admit handler's rejection while the node shuts down (nodeShutdownNotAdmittedReason, nodeShutdownNotAdmittedMessage). */
export const NODE_SHUTDOWN_NOT_ADMITTED_REASON = 'NodeShutdown';
export const NODE_SHUTDOWN_NOT_ADMITTED_MESSAGE = 'Pod was rejected as the node is shutting down.';
/** The Node's Events (kubeletevents.NodeShutdown). */
const NODE_SHUTDOWN_EVENT = 'NodeShutdown';
/** scheduling.DefaultPriorityWhenNoDefaultClassExists */
const DEFAULT_PRIORITY = 0;
const POLL_MS = 1_000;

/** One entry of shutdownGracePeriodByPodPriority: pods of at least this priority (up to the next entry's) get this grace period. */
export interface GracePeriodByPriority {
  priority: number;
  shutdownGracePeriodSeconds: number;
}

/**
 * migrateConfig: shutdownGracePeriod and shutdownGracePeriodCriticalPods as two
 * priority groups — every pod below system-critical gets the difference, the critical
 * ones the critical period. None (the shutdown is immediate) when the period is 0 or
 * the critical period is longer.
 */
export function migrateConfig(gracePeriodSeconds: number, criticalSeconds: number): GracePeriodByPriority[] {
  if (gracePeriodSeconds === 0) return [];
  const defaultSeconds = gracePeriodSeconds - criticalSeconds;
  if (defaultSeconds < 0) return [];
  // Whole seconds, as the kubelet's int64(d / time.Second).
  return [
    { priority: DEFAULT_PRIORITY, shutdownGracePeriodSeconds: Math.floor(defaultSeconds) },
    { priority: SYSTEM_CRITICAL_PRIORITY, shutdownGracePeriodSeconds: Math.floor(gracePeriodSeconds - defaultSeconds) },
  ];
}

/**
 * `<priority>=<seconds>` entries, comma-separated (the kubelet's
 * shutdownGracePeriodByPodPriority list, e.g. `0=20,100000=10,2000000000=10`), sorted
 * by priority.
 */
export function parseGracePeriodByPriority(text: string): GracePeriodByPriority[] {
  const out: GracePeriodByPriority[] = [];
  for (const entry of text.split(',').map((s) => s.trim()).filter(Boolean)) {
    const m = /^(-?\d+)=(\d+)$/.exec(entry);
    if (!m) throw new Error(`invalid shutdownGracePeriodByPodPriority entry ${JSON.stringify(entry)}: want <priority>=<seconds>`);
    const priority = Number(m[1]);
    if (!Number.isSafeInteger(priority) || priority < -(2 ** 31) || priority >= 2 ** 31) throw new Error(`invalid shutdownGracePeriodByPodPriority entry ${JSON.stringify(entry)}: the priority is no int32`);
    out.push({ priority, shutdownGracePeriodSeconds: Number(m[2]) });
  }
  return out.sort((a, b) => a.priority - b.priority);
}

/** The kubelet's validation of the shutdown settings (pkg/kubelet/apis/config/validation, its messages); durations in seconds. */
export function shutdownSettingsErrors(s: { gracePeriodSeconds: number; criticalSeconds: number; byPriority: GracePeriodByPriority[] }): string[] {
  const errors: string[] = [];
  const { gracePeriodSeconds: period, criticalSeconds: critical } = s;
  if (critical > period) errors.push(`invalid configuration: shutdownGracePeriodCriticalPods ${goDuration(critical)} must be <= shutdownGracePeriod ${goDuration(period)}`);
  if (period < 0 || (period > 0 && period < 1)) errors.push(`invalid configuration: shutdownGracePeriod ${goDuration(period)} must be either zero or otherwise >= 1 sec`);
  if (critical < 0 || (critical > 0 && critical < 1)) errors.push(`invalid configuration: shutdownGracePeriodCriticalPods ${goDuration(critical)} must be either zero or otherwise >= 1 sec`);
  if (s.byPriority.length && (period > 0 || critical > 0)) errors.push('invalid configuration: Cannot specify both shutdownGracePeriodByPodPriority and shutdownGracePeriod at the same time');
  return errors;
}

export interface ShutdownGroupOfPods extends GracePeriodByPriority {
  pods: V1Pod[];
}

/**
 * groupByPriority: each pod goes to the group with the highest priority not above its
 * own (a pod below every group's goes to the lowest, one above every group's to the
 * highest). Groups are in the configuration's order, the lowest priority first.
 */
export function groupByPriority(periods: readonly GracePeriodByPriority[], pods: readonly V1Pod[]): ShutdownGroupOfPods[] {
  const groups: ShutdownGroupOfPods[] = periods.map((p) => ({ ...p, pods: [] }));
  if (!groups.length) return groups;
  for (const pod of pods) {
    const priority = pod.spec?.priority ?? 0;
    let index = groups.findIndex((g) => g.priority >= priority);
    if (index === -1) index = groups.length - 1;
    else if (index > 0 && groups[index]!.priority > priority) index--;
    groups[index]!.pods.push(pod);
  }
  return groups;
}

/** The kill's grace period: the group's, or the pod's own when that is shorter. */
export function gracePeriodFor(pod: V1Pod, groupSeconds: number): number {
  const own = pod.spec?.terminationGracePeriodSeconds;
  return own !== undefined && own <= groupSeconds ? own : groupSeconds;
}

/** A shutdown asked of a node whose shutdown grace period is 0: the kubelet's manager is then a stub. */
export class GracefulShutdownDisabledError extends Error {
  constructor() {
    super('graceful node shutdown is off on this node (SPLITLET_SHUTDOWN_GRACE_PERIOD=0): the node shuts down without terminating its pods');
  }
}

export interface NodeShutdownDeps {
  /** The shutdown's groups (migrateConfig's, or shutdownGracePeriodByPodPriority); none: the shutdown terminates nothing. */
  periods: readonly GracePeriodByPriority[];
  /** The node's bucket (nodeStateBucket). */
  bucket: () => Promise<KV>;
  bootId: () => Promise<string>;
  /** The pods bound to the node (the pod informer's), once it has listed them. */
  pods: () => readonly V1Pod[];
  synced: () => Promise<void>;
  /** GetActivePods: admitted and not finished (a pod being deleted is still active). */
  active: (pod: V1Pod) => boolean;
  /** Hands the termination to the pod's worker (PodSyncer.evict, then a sync). */
  terminate: (pod: V1Pod, how: Eviction) => void;
  /** The UIDs of the pods that have a running container (the runtime's labels); undefined when the runtime does not answer. */
  runningPods: () => Promise<Set<string> | undefined>;
  nodeEvent: (type: 'Normal' | 'Warning', reason: string, message: string) => void;
  clock: Clock;
  logger: Logger;
  /**
   * Whether this process terminates the pods from the start (alone, it does). With
   * replicas, only the one that leads does (lead()); every replica follows the state
   * (follow()), refuses pods while the node shuts down, and takes the operator's calls.
   */
  leading?: boolean;
}

/**
 * The node shutdown manager. Its state (NodeShutdownState, under `shutdown` in the
 * node's bucket) is what a restarted pod-sync and registrar read: a shutdown of this
 * boot goes on after a restart of pod-sync (the groups not done yet are run again over
 * the pods still active), one of an earlier boot is removed. While the node shuts down
 * every new pod is refused (NodeShutdown); a cancellation admits pods again and leaves
 * the ones terminated as they are.
 */
export class NodeShutdownManager {
  private state: NodeShutdownState | undefined;
  /** The termination under way; aborted by a cancellation or the service's stop. */
  private running: AbortController | undefined;
  private done: Promise<void> = Promise.resolve();
  /** One change of the state at a time: the load, the requests, the run's progress. */
  private queue: Promise<unknown> = Promise.resolve();
  private stopped = false;
  private leading: boolean;

  constructor(private readonly deps: NodeShutdownDeps) {
    this.leading = deps.leading ?? true;
  }

  /**
   * Terminates the pods of a shutdown under way (or asked for meanwhile) until signal
   * aborts: the replica that leads does, and stops its termination when it leads no more.
   */
  async lead(signal: AbortSignal): Promise<void> {
    await this.serially(async () => {
      this.leading = true;
      if (this.state && this.state.finishedAt === 0n && !this.running) this.begin();
    });
    await untilAborted(signal);
    await this.serially(async () => {
      this.leading = false;
      this.running?.abort();
      this.running = undefined;
    });
    await this.done;
  }

  /**
   * Follows the state in the node's bucket until signal aborts: a shutdown another
   * replica began (an operator's call it took) holds here too, and is run here when
   * this replica leads; one cancelled elsewhere ends here. Retried while NATS does not answer.
   */
  async follow(signal: AbortSignal): Promise<void> {
    while (!signal.aborted) {
      try {
        await watchBucket(await this.deps.bucket(), podsyncv1.NodeShutdownStateSchema, (_key, value) => this.serially(() => this.seen(value)), { logger: this.deps.logger, signal, key: NODE_SHUTDOWN_KEY, undecodable: 'absent' });
      } catch (err) {
        this.deps.logger.debug({ err }, 'node shutdown: cannot follow its state');
      }
      await this.deps.clock.sleep(POLL_MS, signal).catch(() => undefined);
    }
  }

  private async seen(found: NodeShutdownState | undefined): Promise<void> {
    if (!found) {
      if (!this.state) return;
      this.running?.abort();
      this.running = undefined;
      this.state = undefined;
      this.deps.logger.warn('node shutdown cancelled: pods are admitted again');
      return;
    }
    if (found.bootId !== (await this.deps.bootId())) return;
    const same = this.state?.startedAt === found.startedAt;
    this.state = found;
    if (same) return;
    this.deps.logger.warn({ startedAt: new Date(Number(found.startedAt)).toISOString() }, 'the node is shutting down: pods are refused');
    if (this.leading && found.finishedAt === 0n) this.begin();
  }

  /** The Admit of the shutdown's admit handler: the rejection while the node shuts down. */
  shuttingDown(): boolean {
    return this.state !== undefined;
  }

  /**
   * Reads the state left by an earlier process, before any pod is admitted: a shutdown
   * of this boot holds (and its termination goes on), one of an earlier boot is removed.
   * Resolves after the first attempt; one that fails (the bucket does not answer) is
   * logged and tried again in the background until one succeeds.
   */
  load(retryMs = 2_000): Promise<void> {
    const first = this.serially(() => this.loadOnce());
    void first.catch(async (err: unknown) => {
      this.deps.logger.warn({ err: (err as Error).message }, 'node shutdown: its state could not be read; the node counts as not shutting down until it is');
      for (let delay = retryMs; !this.stopped; delay = Math.min(delay * 2, 30_000)) {
        await this.deps.clock.sleep(delay).catch(() => undefined);
        if (this.stopped) return;
        try {
          await this.serially(() => this.loadOnce());
          return;
        } catch {
          // asked again after a longer delay
        }
      }
    });
    return first.then(
      () => undefined,
      () => undefined,
    );
  }

  private async loadOnce(): Promise<void> {
    const kv = await this.deps.bucket();
    const found = await kvGet(kv, NODE_SHUTDOWN_KEY, podsyncv1.NodeShutdownStateSchema);
    // A shutdown asked for meanwhile (the bucket was away) is this process's own.
    if (!found || this.state) return;
    if (found.bootId !== (await this.deps.bootId())) {
      this.deps.logger.info({ startedAt: new Date(Number(found.startedAt)).toISOString() }, 'a node shutdown of an earlier boot is over');
      await kv.delete(NODE_SHUTDOWN_KEY);
      return;
    }
    this.state = found;
    this.deps.logger.warn({ startedAt: new Date(Number(found.startedAt)).toISOString(), finished: found.finishedAt > 0n }, 'the node is shutting down (a shutdown of this boot was under way): pods are refused');
    if (found.finishedAt === 0n && this.leading) this.begin();
  }

  /**
   * Begins the shutdown (the shutdown event); a shutdown under way is answered as it is.
   * With no priority group (a grace period of 0) there is no graceful shutdown, as the
   * kubelet's stub manager: refused.
   */
  shutdown(): Promise<NodeShutdownState> {
    return this.serially(async () => {
      if (this.state) return this.state;
      if (!this.deps.periods.length) throw new GracefulShutdownDisabledError();
      const now = BigInt(this.deps.clock.now());
      const state = create(podsyncv1.NodeShutdownStateSchema, {
        bootId: await this.deps.bootId(),
        startedAt: now,
        groups: this.deps.periods.map((p) => ({ priority: p.priority, gracePeriodSeconds: BigInt(p.shutdownGracePeriodSeconds) })),
      });
      // Created only where none is: a shutdown another replica began meanwhile is the one answered.
      const kv = await this.deps.bucket();
      const value = toBinary(podsyncv1.NodeShutdownStateSchema, state);
      try {
        await kv.create(NODE_SHUTDOWN_KEY, value).catch(async (err: unknown) => {
          // One of an earlier boot is over: it goes.
          const old = await kvGet(kv, NODE_SHUTDOWN_KEY, podsyncv1.NodeShutdownStateSchema);
          if (!old || old.bootId === state.bootId) throw err;
          await kv.delete(NODE_SHUTDOWN_KEY);
          await kv.create(NODE_SHUTDOWN_KEY, value);
        });
      } catch (err) {
        const other = await kvGet(kv, NODE_SHUTDOWN_KEY, podsyncv1.NodeShutdownStateSchema);
        if (!other) throw err;
        this.state = other;
        if (this.leading && other.finishedAt === 0n && !this.running) this.begin();
        return other;
      }
      this.state = state;
      this.deps.logger.warn({ groups: this.deps.periods }, 'node shutdown: new pods are refused, the running ones terminated by priority');
      this.deps.nodeEvent('Normal', NODE_SHUTDOWN_EVENT, 'Shutdown manager detected shutdown event');
      if (this.leading) this.begin();
      return state;
    });
  }

  /**
   * Cancels the shutdown (shutdown(false)): pods are admitted again; true when one was
   * under way or done. The termination stops before its next pod (the kubelet cannot
   * cancel a termination under way: its pods of every group are killed first). The state
   * goes from the bucket first: when that fails the shutdown goes on, and the call fails.
   */
  cancel(): Promise<boolean> {
    return this.serially(async () => {
      if (!this.state) return false;
      await (await this.deps.bucket()).delete(NODE_SHUTDOWN_KEY);
      this.running?.abort();
      this.state = undefined;
      this.deps.logger.warn('node shutdown cancelled: pods are admitted again');
      this.deps.nodeEvent('Normal', NODE_SHUTDOWN_EVENT, 'Shutdown manager detected shutdown cancellation');
      return true;
    });
  }

  /** Stops the termination under way (the service stops; the state stays for the next process). */
  async stop(): Promise<void> {
    this.stopped = true;
    this.running?.abort();
    await this.done;
  }

  private begin(): void {
    this.running?.abort();
    const ac = new AbortController();
    this.running = ac;
    this.done = this.terminatePods(ac.signal).catch((err: unknown) => this.deps.logger.error({ err: (err as Error).message }, 'node shutdown: terminating the pods failed'));
  }

  /**
   * processShutdownEvent: each group's pods terminated together, the next group once
   * they stopped or the group's grace period ran out. Resumed (after a restart of
   * pod-sync), a group already done is not waited for again, but its pods still active
   * are terminated again (the termination may not have reached them).
   */
  private async terminatePods(signal: AbortSignal): Promise<void> {
    await Promise.race([this.deps.synced(), untilAborted(signal)]);
    if (signal.aborted) return;
    const groups = groupByPriority(this.deps.periods, this.deps.pods().filter((p) => this.deps.active(p)));
    for (const [i, group] of groups.entries()) {
      const doneBefore = (this.state?.groups[i]?.doneAt ?? 0n) > 0n;
      for (const pod of group.pods) {
        if (signal.aborted) return;
        this.deps.terminate(pod, {
          reason: NODE_SHUTDOWN_REASON,
          message: NODE_SHUTDOWN_MESSAGE,
          gracePeriodSeconds: gracePeriodFor(pod, group.shutdownGracePeriodSeconds),
          disruption: true,
          event: false,
        });
      }
      if (doneBefore) continue;
      if (group.pods.length) await this.waitStopped(group.pods, group.shutdownGracePeriodSeconds * 1000, signal);
      if (signal.aborted) return;
      await this.update(signal, (s) => {
        const g = s.groups[i];
        if (g) {
          g.pods = group.pods.length;
          g.doneAt = BigInt(this.deps.clock.now());
        }
      });
    }
    await this.update(signal, (s) => {
      s.finishedAt = BigInt(this.deps.clock.now());
      this.deps.logger.warn('node shutdown: every pod is terminated');
    });
  }

  /** Until none of the pods runs a container, or the group's grace period ran out (asked every second). */
  private async waitStopped(pods: readonly V1Pod[], ms: number, signal: AbortSignal): Promise<void> {
    const uids = new Set(pods.map((p) => p.metadata?.uid ?? ''));
    const deadline = this.deps.clock.now() + ms;
    while (!signal.aborted && this.deps.clock.now() < deadline) {
      await this.deps.clock.sleep(Math.min(POLL_MS, Math.max(0, deadline - this.deps.clock.now())), signal).catch(() => undefined);
      const running = await this.deps.runningPods();
      if (running && ![...uids].some((u) => running.has(u))) return;
    }
    if (!signal.aborted) this.deps.logger.info({ gracePeriodSeconds: ms / 1000 }, 'node shutdown: the group\'s grace period ran out');
  }

  /**
   * Changes and writes the state, unless the termination was cancelled meanwhile. A
   * write that fails is logged and the termination goes on (the kubelet's state file is
   * best effort too): the next write carries the change.
   */
  private update(signal: AbortSignal, change: (s: NodeShutdownState) => void): Promise<void> {
    return this.serially(async () => {
      if (!this.state || signal.aborted) return;
      change(this.state);
      await this.persist(this.state).catch((err: unknown) => this.deps.logger.warn({ err: (err as Error).message }, 'node shutdown: its progress could not be written'));
    });
  }

  private async persist(state: NodeShutdownState): Promise<void> {
    await kvPut(await this.deps.bucket(), NODE_SHUTDOWN_KEY, podsyncv1.NodeShutdownStateSchema, state);
  }

  private serially<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.queue.then(fn, fn);
    this.queue = next.catch(() => undefined);
    return next;
  }
}
