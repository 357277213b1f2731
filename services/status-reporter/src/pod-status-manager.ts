import { addAbortListener } from 'node:events';
import { create, fromBinary } from '@bufbuild/protobuf';
import { DeliverPolicy } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import { context, SpanKind, trace, type Context } from '@opentelemetry/api';
import { inject, injectable } from 'tsyringe';
import { isPodUidToken, jetstreamOf, podStatusesSubject, podStatusSubject, shardStatusesSubject, statusStreamName, withConsumerSpan } from '@splitlet/bus';
import { statusv1 } from '@splitlet/contracts';
import { apiStatus, describeApiError } from '@splitlet/kube';
import { TOKENS, untilAborted, type Clock, type Runnable } from '@splitlet/service';
import { ATTR, type Logger } from '@splitlet/telemetry';
import type { V1PodStatus } from '@kubernetes/client-node';
import { mergeConditions, toKubePodStatus, toWirePodStatus } from '@splitlet/pod-status';
import type { PodApi } from './pod-api';
import { CACHE_WAIT_MS, MAX_WAITING_FOR_POD, type PodCache } from './pod-cache';
import { GonePods } from './gone-pods';
import { SR } from './tokens';
import { ShownContainers } from './shown-containers';
import { hasIdentity, holdTerminalPhase, identityMismatch, illegalContainerTransition, REJECTIONS, terminatedButNotDeleting, versionTooFarAhead, type Rejection } from './update-checks';

/** Whether the node heartbeats, as the API server shows it (its Ready condition is not Unknown). */
export interface NodeHeartbeat {
  beating(): boolean;
}

interface PodEntry {
  /** The newest update received. */
  latest?: statusv1.PodStatusUpdate;
  /** The trace context it came in (its CONSUMER span): its write is a child of it. */
  latestContext?: Context;
  /**
   * What was last written (or found already in place): its version, the status as sent,
   * and when it was last PATCHed (0: never by us) — an update found in place is no write,
   * so the pod cache has nothing to catch up with — and `held`, the status the API server
   * answered that PATCH with: what the pod cache should show. It may differ from what was
   * sent (a patch leaves out what the status does not have: an IP a stopped sandbox no
   * longer reports stays), and the reconcile must not write forever to change it.
   * `cacheRv`: the pod's resourceVersion in the pod cache when it was PATCHed; while the
   * cache still shows it, the cache has not seen that write (e.g. its watch is still
   * cut after the API server was away) and cannot tell whether it took.
   */
  written?: { version: bigint; json: string; held: string; at: number; cacheRv?: string };
  /** The API's status differs from what was written: write the latest again. */
  forced?: boolean;
  writing: boolean;
  /** An update that waits for the pod cache to agree with it (show its pod, or its deletion), and since when. */
  waiting?: { update: statusv1.PodStatusUpdate; since: number };
  /** Aborted when a newer update comes: a waiting one must not hold it up. */
  newer?: AbortController;
  /** What the pod's statuses have shown of its containers (shown-containers.ts): the checks' memory. */
  shown?: ShownContainers;
}

/** A status in the one JSON shape both sides compare in: the API's, through the wire mapping. */
const normalized = (status: V1PodStatus | undefined): string => JSON.stringify(toKubePodStatus(create(statusv1.PodStatusSchema, toWirePodStatus(status ?? {}))));

/**
 * podIPs and hostIPs merge by IP in a strategic merge patch: an IP the pod no longer
 * has would stay. The kubelet patches from old to new (deleting it); a patch built
 * from the new status alone says so with the `$patch: replace` directive.
 */
function withReplacedIPs(status: V1PodStatus): object {
  const replace = { $patch: 'replace' };
  return {
    ...removedFields(status),
    ...status,
    podIPs: [...(status.podIPs ?? []), replace],
    hostIPs: [...(status.hostIPs ?? []), replace],
    // Conditions merge by type, and within one by field: a reason or message the new
    // condition lacks (Ready, once True, has neither) would stay from the old one
    // ("True ContainersNotReady"). The kubelet's two-way patch deletes them; so does null.
    ...(status.conditions ? { conditions: status.conditions.map((c) => ({ ...c, reason: c.reason ?? null, message: c.message ?? null })) } : {}),
  };
}

/**
 * The node's fields a status may drop (a message once the pod is past what it said,
 * the init containers' list, ...). The kubelet patches from the old status to the new
 * (a two-way merge: what the new one lacks is deleted); a patch built from the new
 * status alone would leave the old value in place for good, so each such field the
 * new status lacks is deleted explicitly (null in a merge patch).
 */
const DROPPABLE = ['message', 'reason', 'hostIP', 'podIP', 'initContainerStatuses', 'ephemeralContainerStatuses'] as const;

function removedFields(status: V1PodStatus): Record<string, null> {
  return Object.fromEntries(DROPPABLE.filter((k) => status[k] === undefined).map((k) => [k, null]));
}

/**
 * The status manager's updateStatusInternal: against the newest status held for the
 * pod, a condition whose status did not change keeps its lastTransitionTime, one that
 * changed gets `now`, and startTime never changes once set. The producer (pod-sync)
 * stamps them against its copy of the pod from the API server, which lags behind our
 * writes — or is cut off while the API server is away — so its times would step back
 * and forth between writes, and a transition would be dated when the API server
 * returned instead of when it happened.
 */
export function settleTransitionTimes(status: statusv1.PodStatus, old: V1PodStatus | undefined, nowMs: number): statusv1.PodStatus {
  if (!old) return status;
  const next = toKubePodStatus(status);
  next.conditions = mergeConditions(old.conditions, next.conditions ?? [], new Date(Math.floor(nowMs / 1000) * 1000));
  if (old.startTime) next.startTime = old.startTime;
  return create(statusv1.PodStatusSchema, toWirePodStatus(next));
}

/** The top-level status fields in which two normalized statuses differ (for the log). */
function differingFields(a: string, b: string): string[] {
  const [x, y] = [JSON.parse(a) as Record<string, unknown>, JSON.parse(b) as Record<string, unknown>];
  return [...new Set([...Object.keys(x), ...Object.keys(y)])].filter((k) => JSON.stringify(x[k]) !== JSON.stringify(y[k]));
}

/** How far the NATS server's clock and ours may differ, at most, when a stream message is dated against the pod cache's list. */
const LIST_MARGIN_MS = 5_000;
/** How long after a write the pod cache may still show the status before it. */
const CACHE_LAG_MS = 2_000;
/** The longest wait between two attempts of a failed write, when the reconcile period is longer. */
const MAX_RETRY_MS = 30_000;

const tracer = trace.getTracer('status-reporter');

/**
 * The one writer of pod status (the kubelet's status manager): per pod, the newest
 * version wins — older and repeated updates are dropped, a burst is coalesced into
 * one write of the latest — an unchanged status is not written again, the status
 * is patched (never replaced) under a UID precondition, failed writes are retried
 * with back-off, and a terminated pod's deletion is completed with grace 0.
 */
@injectable()
export class PodStatusManager implements Runnable {
  private readonly pods = new Map<string, PodEntry>();
  /** Aborted (and replaced) when a write succeeds: failed writes waiting to retry go at once. */
  private wake = new AbortController();
  /** Counts of API writes, for the record. */
  readonly writes = { statusPatches: 0, deletes: 0 };
  /** Updates refused, by why (update-checks.ts): never written, never the newest version. */
  readonly rejected = Object.fromEntries(REJECTIONS.map((r) => [r, 0])) as Record<Rejection, number>;
  /** Statuses written with their move into a terminal phase held (containers could still run). */
  terminalPhasesHeld = 0;
  /**
   * Statuses in the stream of pods that were gone before the pod cache's first list
   * (deleted while pod-sync was away, so it never forgot them): not waited for.
   */
  staleDropped = 0;
  /** The reconcile stood down at its last turn (the node was not heartbeating). */
  private standingDown = false;
  private markLive!: () => void;
  /** Resolves once the status stream is being read. */
  readonly live = new Promise<void>((resolve) => (this.markLive = resolve));
  /** Pods whose updates came before the pod cache showed them (and wait for it). */
  private readonly waitingForPod = new Set<string>();

  constructor(
    @inject(SR.PodApi) private readonly api: PodApi,
    @inject(SR.PodCache) private readonly cache: PodCache,
    /**
     * Pods deleted (by this manager, or as the pod cache saw): a late update for one
     * (pod-sync may still publish while its worker winds down) is not written.
     */
    @inject(GonePods) private readonly gone: GonePods,
    @inject(SR.ReconcileMs) private readonly reconcileMs: number,
    @inject(SR.NodeHeartbeat) private readonly heartbeat: NodeHeartbeat,
    @inject(TOKENS.Nats) private readonly nc: NatsConnection,
    @inject(TOKENS.NodeName) private readonly nodeName: string,
    @inject(TOKENS.Clock) private readonly clock: Clock,
    @inject(TOKENS.Logger) private readonly logger: Logger,
    /** The status shard whose pods this manager writes (its replica holds it); none: every pod of the node. */
    @inject(SR.Shard, { isOptional: true }) private readonly shard?: number,
  ) {}

  async run(signal: AbortSignal): Promise<void> {
    const following = this.followStatuses(signal);
    while (!signal.aborted) {
      await this.clock.sleep(this.reconcileMs, signal).catch(() => undefined);
      if (!signal.aborted) this.reconcile();
    }
    await untilAborted(signal);
    await following;
  }

  /**
   * Reads the status stream: first the latest status of every pod in it (what was
   * handed over while this service was away, or before it restarted), then each new
   * one as it comes. An ordered consumer of our own, nothing acknowledged: the stream
   * keeps each pod's latest status until pod-sync forgets the pod (or an hour passes),
   * and a status the API server already holds is not written again. Waits for the pod
   * cache's first list, so a status of a pod that was gone before it is told from
   * one of a pod the cache has not seen yet. Retried until the stream is there.
   */
  private async followStatuses(signal: AbortSignal): Promise<void> {
    const listedAt = this.cache.synced && (await Promise.race([this.cache.synced, untilAborted(signal)]));
    const stream = statusStreamName(this.nodeName);
    for (let delay = 500; !signal.aborted; delay = Math.min(delay * 2, 5_000)) {
      try {
        const subjects = this.shard === undefined ? podStatusesSubject(this.nodeName) : shardStatusesSubject(this.nodeName, this.shard);
        const consumer = await jetstreamOf(this.nc).consumers.get(stream, { filter_subjects: [subjects], deliver_policy: DeliverPolicy.LastPerSubject });
        const messages = await consumer.consume();
        // Also when the signal fired while the consumer was being set up.
        const stopping = addAbortListener(signal, () => void messages.stop());
        this.markLive();
        try {
          for await (const m of messages) {
            delay = 500;
            await withConsumerSpan(m.subject, m.headers, {}, async () => {
              let u: statusv1.PodStatusUpdate;
              try {
                u = fromBinary(statusv1.PodStatusUpdateSchema, m.data);
              } catch (e) {
                this.logger.warn({ subject: m.subject, err: (e as Error).message }, 'malformed message dropped');
                return;
              }
              // One subject per pod, in its shard: a status under another pod's subject would
              // take its place in the stream, one in another shard would have a second writer.
              if (!isPodUidToken(u.podUid) || m.subject !== podStatusSubject(this.nodeName, u.podUid)) return void this.reject('no-identity', u);
              if (typeof listedAt === 'number' && !this.cache.byUid(u.podUid) && m.time.getTime() < listedAt - LIST_MARGIN_MS) {
                this.staleDropped++;
                return;
              }
              this.offer(u);
            });
          }
        } finally {
          stopping[Symbol.dispose]();
        }
      } catch (err) {
        if (signal.aborted) return;
        this.logger.debug({ err: (err as Error).message, retryInMs: delay }, 'pod statuses not available yet');
      }
      await this.clock.sleep(delay, signal).catch(() => undefined);
    }
  }

  /**
   * The status manager's periodic sync: a pod whose status in the API server is not
   * what was last written (a lost write, another writer) gets the latest written again;
   * a pod deleted meanwhile is forgotten.
   */
  reconcile(): void {
    // Pods deleted by someone else (a force delete, the garbage collector): nothing is
    // written for them any more, and their entries go (a write in flight finds the pod
    // gone and drops its own).
    for (const [uid, entry] of this.pods) if (!entry.writing && this.gone.has(uid)) this.pods.delete(uid);
    // The node is not heartbeating (registrar away: the node lifecycle controller set
    // Ready Unknown, and marks the node's pods not ready every 5 s while it stays so).
    // Writing our status back over those marks would be a fight of two writers every
    // few seconds; the controller's marks are right while the node cannot vouch for its
    // pods. So only real changes (new statuses from pod-sync) are written meanwhile, and
    // the repairs wait until the node heartbeats again.
    if (!this.heartbeat.beating()) {
      if (!this.standingDown) this.logger.info('the node is not heartbeating (Ready Unknown): statuses others changed are left as they are until it is back');
      this.standingDown = true;
      return;
    }
    this.standingDown = false;
    const now = this.clock.now();
    for (const [uid, entry] of this.pods) {
      if (entry.writing || !entry.written || !entry.latest || now - entry.written.at < CACHE_LAG_MS) continue;
      const pod = this.cache.byUid(uid);
      if (!pod || (entry.written.cacheRv !== undefined && pod.metadata?.resourceVersion === entry.written.cacheRv)) continue;
      const api = normalized(pod.status);
      if (api === entry.written.held) continue;
      this.logger.info({ pod: `${entry.latest.namespace}/${entry.latest.name}`, uid, fields: differingFields(api, entry.written.held) }, 'the API server holds another status; writing the latest again');
      entry.forced = true;
      void this.drain(uid, entry);
    }
  }

  /**
   * Takes an update; returns once it is queued (the write happens behind), or why it
   * was refused. An update that can be checked against the pod cache only once the
   * cache shows its pod is checked again before it is written.
   */
  offer(update: statusv1.PodStatusUpdate): Rejection | undefined {
    if (!hasIdentity(update)) return this.reject('no-identity', update);
    if (versionTooFarAhead(update.version, this.clock.now())) return this.reject('version-ahead', update);
    if (this.gone.has(update.podUid)) return undefined;
    const pod = this.cache.byUid(update.podUid);
    if (pod && identityMismatch(update, pod)) return this.reject('identity-mismatch', update);
    if (!pod && !this.waitingForPod.has(update.podUid) && this.waitingForPod.size >= MAX_WAITING_FOR_POD) return this.reject('not-bound', update);
    const entry = this.pods.get(update.podUid) ?? { writing: false };
    this.pods.set(update.podUid, entry);
    const newest = entry.latest?.version ?? entry.written?.version ?? -1n;
    if (update.version <= newest) return; // stale or repeated
    const old = entry.latest?.status ? toKubePodStatus(entry.latest.status) : this.cache.byUid(update.podUid)?.status;
    update.status = settleTransitionTimes(update.status, old, this.clock.now());
    entry.latest = update;
    entry.latestContext = context.active();
    entry.newer?.abort();
    if (!pod) this.waitingForPod.add(update.podUid); // until its drain ends
    void this.drain(update.podUid, entry);
    return undefined;
  }

  /**
   * Counts a refused update and logs it — who and why, never the status — at the 1st,
   * 2nd, 4th, 8th… of each kind, so a flood does not flood the log.
   */
  private reject(why: Rejection, u: statusv1.PodStatusUpdate): Rejection {
    const n = ++this.rejected[why];
    if ((n & (n - 1)) === 0) {
      const uid = u.podUid.slice(0, 64);
      const pod = `${u.namespace.slice(0, 63)}/${u.name.slice(0, 253)}`;
      this.logger.warn({ uid, pod, version: String(u.version), terminated: u.terminated, reason: why, count: n }, 'pod status update refused');
    }
    return why;
  }

  /** How many pods it holds a status of (what it keeps per pod: tests, the soak). */
  get tracked(): number {
    return this.pods.size;
  }

  /** Whether every received update has been written (for tests and shutdown). */
  get idle(): boolean {
    return [...this.pods.values()].every((e) => !e.writing && (!e.latest || (e.written && e.written.version >= e.latest.version)));
  }

  private async drain(uid: string, entry: PodEntry): Promise<void> {
    if (entry.writing) return;
    entry.writing = true;
    try {
      // The back-off is capped at the reconcile period (the kubelet retries a failed
      // write at its next 10 s syncBatch), and cut short when another write succeeds:
      // once the API server answers again, every waiting status goes at once; so does a
      // newer status of the pod.
      const cap = Math.min(this.reconcileMs, MAX_RETRY_MS);
      for (let delay = 200; entry.latest && (entry.forced || !entry.written || entry.latest.version > entry.written.version); ) {
        const latest = entry.latest;
        const outcome = await context.with(entry.latestContext ?? context.active(), () => this.write(latest, entry));
        if (outcome === 'retry') {
          // A newer status is tried at once, as the kubelet's status manager syncs on every
          // update it is handed: only the failed one waits out the back-off.
          if (entry.latest !== latest) continue;
          entry.newer = new AbortController();
          await this.clock.sleep(delay, AbortSignal.any([this.wake.signal, entry.newer.signal])).catch(() => undefined);
          delay = Math.min(delay * 2, cap);
        } else if (outcome === 'gone') {
          this.pods.delete(uid);
          // Its identity was checked against the pod cache before it was written.
          this.gone.add({ uid, namespace: latest.namespace, name: latest.name });
          return;
        } else if (outcome === 'not-bound' || outcome === 'terminated-not-deleting') {
          const now = this.clock.now();
          if (entry.waiting?.update !== latest) entry.waiting = { update: latest, since: now };
          if (now - entry.waiting.since >= CACHE_WAIT_MS) {
            this.reject(outcome, latest);
            this.forget(uid, entry, latest);
            continue; // with a newer update if one came, else done
          }
          if (entry.latest !== latest) continue; // replaced while it was looked at: the newer one goes now
          entry.newer = new AbortController();
          await this.clock.sleep(delay, AbortSignal.any([this.wake.signal, entry.newer.signal])).catch(() => undefined);
          delay = Math.min(delay * 2, cap);
        } else if (outcome === 'rejected') {
          this.forget(uid, entry, latest);
        } else if (outcome === 'refused') {
          // This status cannot be written (403, 422); a later one may be.
          entry.written = { version: latest.version, json: '', held: '', at: this.clock.now(), cacheRv: undefined };
          entry.forced = false;
        }
      }
    } finally {
      entry.writing = false;
      // The loop ends with the update written, dropped or refused: nothing waits any more.
      this.waitingForPod.delete(uid);
    }
  }

  /**
   * Drops a refused update as if it had never come: it is not the newest version, so
   * the producer's next one is taken whatever version the forged one claimed.
   */
  private forget(uid: string, entry: PodEntry, refused: statusv1.PodStatusUpdate): void {
    entry.waiting = undefined;
    this.waitingForPod.delete(uid);
    if (entry.latest !== refused) return; // a newer update came meanwhile: the loop goes on with it
    entry.latest = undefined;
    entry.latestContext = undefined;
    if (!entry.written) this.pods.delete(uid);
  }

  private wakeRetries(): void {
    this.wake.abort();
    this.wake = new AbortController();
  }

  private write(u: statusv1.PodStatusUpdate, entry: PodEntry): Promise<'ok' | 'retry' | 'gone' | 'refused' | 'rejected' | 'not-bound' | 'terminated-not-deleting'> {
    const attributes = { [ATTR.podUid]: u.podUid, [ATTR.podName]: u.name, [ATTR.namespace]: u.namespace, [ATTR.nodeName]: this.nodeName };
    return tracer.startActiveSpan('status-reporter write pod status', { kind: SpanKind.INTERNAL, attributes }, async (span) => {
      try {
        // Only a pod the API server binds to this node, under the update's name, gets a write.
        const pod = this.cache.byUid(u.podUid);
        // Written before and no longer in the cache: deleted meanwhile (as a 404 would say).
        if (!pod) return entry.written ? 'gone' : 'not-bound';
        if (identityMismatch(u, pod)) {
          this.reject('identity-mismatch', u);
          return 'rejected';
        }
        if (terminatedButNotDeleting(u, pod)) return 'terminated-not-deleting';
        entry.waiting = undefined;
        const old: V1PodStatus = entry.written?.json ? (JSON.parse(entry.written.json) as V1PodStatus) : (pod.status ?? {});
        // Checked against every status shown, not only the last one: a status that leaves
        // a container out (written first) must not make the next one's checks forget it.
        const shown = (entry.shown ??= new ShownContainers(pod.status));
        if (illegalContainerTransition(u.status!, shown.asStatus(old), pod)) {
          this.reject('illegal-container-transition', u);
          return 'rejected';
        }
        const merged = holdTerminalPhase(u.status!, shown.asStatus(old), pod, u.rejected);
        if (merged.held) {
          this.terminalPhasesHeld++;
          this.logger.info({ pod: `${u.namespace}/${u.name}`, uid: u.podUid, phase: u.status!.phase, kept: old.phase ?? 'Pending' }, 'terminal phase held: the pod\'s containers could still run');
        }
        const status = toKubePodStatus(merged.status);
        const json = JSON.stringify(status);
        // Unchanged since the last write, or (after a restart) already what the API server holds.
        const inPlace = entry.written ? entry.written.json === json : normalized(this.cache.byUid(u.podUid)?.status) === json;
        let at = entry.written?.at ?? 0;
        let held = entry.written ? entry.written.held : json;
        let cacheRv = entry.written?.cacheRv;
        if (entry.forced || !inPlace) {
          cacheRv = this.cache.byUid(u.podUid)?.metadata?.resourceVersion;
          // metadata.uid in the patch is a precondition: a pod re-created under the same name is not ours.
          const answer = await this.api.patchPodStatus(u.namespace, u.name, { metadata: { uid: u.podUid }, status: withReplacedIPs(status) });
          this.writes.statusPatches++;
          this.wakeRetries(); // the API server answers
          at = this.clock.now();
          held = answer?.status ? normalized(answer.status) : json;
          this.logger.debug({ pod: `${u.namespace}/${u.name}`, uid: u.podUid, version: String(u.version), phase: status.phase, forced: entry.forced === true }, 'pod status patched');
        }
        entry.forced = false;
        entry.written = { version: u.version, json, held, at, cacheRv };
        shown.add(status);
        if (u.terminated) {
          await this.api.deletePod(u.namespace, u.name, u.podUid);
          this.writes.deletes++;
          this.logger.info({ pod: `${u.namespace}/${u.name}`, uid: u.podUid }, 'pod deleted: its containers are gone');
          return 'gone';
        }
        return 'ok';
      } catch (err) {
        const code = apiStatus(err);
        span.setAttribute('http.response.status_code', code ?? 0);
        // Gone, or replaced by another pod of the same name (UID precondition): nothing to write.
        if (code === 404 || code === 409) {
          this.logger.info({ pod: `${u.namespace}/${u.name}`, uid: u.podUid, err: describeApiError(err) }, 'pod no longer exists; status dropped');
          return 'gone';
        }
        this.logger.warn({ pod: `${u.namespace}/${u.name}`, err: describeApiError(err) }, 'failed to write pod status; will retry');
        return code === 403 || code === 422 ? 'refused' : 'retry';
      } finally {
        span.end();
      }
    });
  }
}
