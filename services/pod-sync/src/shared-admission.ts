import type { V1Pod } from '@kubernetes/client-node';
import type { Logger } from '@splitlet/telemetry';
import type { PodAdmission, Rejection } from './admission';
import type { AdmissionDecision, PodDecisions } from './pod-decisions';

/** How long a replica that does not lead waits for the leader's decision on a pod before its sync fails (and is retried). */
export const ADMISSION_WAIT_MS = 5_000;

/** A decision as a rejection (undefined: admitted). */
export const rejectionOf = (d: AdmissionDecision): Rejection | undefined => (d.admitted ? undefined : { reason: d.reason, message: d.message });

/** The leader has not decided the pod yet (or has put it off): its sync is retried. */
export class AdmissionPendingError extends Error {
  constructor(why: number | string) {
    super(typeof why === 'number' ? `the pod is not admitted yet: the pod-sync replica that leads has not decided it within ${why} ms` : `the pod is not admitted yet: ${why}`);
  }
}

/** A rejection for what the node's pods use (OutOfcpu, OutOfpods, ...): one that what the other replicas' pods use decides. */
const countsPods = (r: Rejection | undefined): boolean => Boolean(r?.reason.startsWith('OutOf'));

/**
 * The node's admission shared by its pod-sync replicas. The replica that leads decides,
 * one pod at a time in creation order (PodAdmission, as the kubelet's
 * HandlePodAdditions), with every decision taken before it counting, whoever's pod it
 * was: so two replicas syncing different pods never admit more than the node fits.
 * Each decision is written to the bucket (PodDecisions); a replica that does not lead
 * waits for the decision of a pod it syncs. Decisions seen from the bucket count in
 * PodAdmission as its own, so the next leader goes on from them.
 */
export class SharedAdmission {
  constructor(
    private readonly local: PodAdmission,
    private readonly decisions: PodDecisions,
    private readonly leads: () => boolean,
    private readonly logger: Logger,
    private readonly waitMs = ADMISSION_WAIT_MS,
    /** Whether every pod shard is held by a live replica (ShardOwnership.settled); alone: always. */
    private readonly settled: () => boolean = () => true,
  ) {
    local.onDecided = (uid, r) => {
      // Some pods' state is unknown while their shard waits for its next holder (a replica
      // killed): they may have finished meanwhile. A pod that does not fit is put off until
      // it is known, not refused on a count that may be stale.
      if (this.deferring && countsPods(r)) {
        local.forget(uid);
        return;
      }
      void this.decisions.admit(uid, r ? { admitted: false, reason: r.reason, message: r.message } : { admitted: true }).catch((err: unknown) => this.logger.warn({ uid, err: (err as Error).message }, 'the admission decision could not be written: replicas syncing the pod wait for it'));
    };
  }

  private deferring = false;

  /** The leader's decision; with some shards' pods unknown, one that does not fit is not taken (undefined). */
  private decide(pod: V1Pod): { rejection: Rejection | undefined } | undefined {
    this.deferring = !this.settled();
    try {
      const rejection = this.local.admit(pod);
      return this.deferring && countsPods(rejection) ? undefined : { rejection };
    } finally {
      this.deferring = false;
    }
  }

  /** The pod's admission: the decision taken (by the leader), or this replica's own when it leads. */
  async admit(pod: V1Pod): Promise<Rejection | undefined> {
    const uid = pod.metadata?.uid ?? '';
    const known = this.decisions.admission(uid);
    if (known) return rejectionOf(known);
    if (this.leads()) {
      const decided = this.decide(pod);
      if (!decided) throw new AdmissionPendingError("it does not fit, and some pods' state is unknown while a pod-sync replica's shards are handed over");
      return decided.rejection;
    }
    // Started by the node before (its decision lost, or taken before decisions were kept): it was admitted.
    if (pod.status?.startTime) return undefined;
    const decided = await this.decisions.waitAdmission(uid, this.waitMs);
    if (!decided) throw new AdmissionPendingError(this.waitMs);
    return rejectionOf(decided);
  }

  /** The leader decides a pod it sees that waits for a decision, so the replica that syncs it finds it decided. */
  decideAhead(pod: V1Pod, finished: boolean): void {
    const uid = pod.metadata?.uid;
    if (!uid || !this.leads() || this.decisions.admission(uid) || pod.status?.startTime || pod.metadata?.deletionTimestamp || finished) return;
    this.decide(pod);
  }

  /** A pod found running that admission had refused: it counts as admitted (for every replica). */
  admitted(uid: string): void {
    this.local.admitted(uid);
  }

  isAdmitted(uid: string): boolean {
    return this.local.isAdmitted(uid);
  }

  forget(uid: string): void {
    this.local.forget(uid);
  }
}
