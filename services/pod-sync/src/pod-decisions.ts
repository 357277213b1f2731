import type { KV } from '@nats-io/kv';
import { create, toBinary, type MessageShape } from '@bufbuild/protobuf';
import { podDecisionKey, watchBucket } from '@splitlet/bus';
import { podsyncv1 } from '@splitlet/contracts';
import type { Clock } from '@splitlet/service';
import type { Logger } from '@splitlet/telemetry';

export type AdmissionDecision = MessageShape<typeof podsyncv1.AdmissionDecisionSchema>;
export type PodEvictionDecision = MessageShape<typeof podsyncv1.PodEvictionSchema>;

/** Whom a decision is told to: every replica follows them all. */
export interface DecisionListener {
  admission(uid: string, decision: AdmissionDecision | undefined): void;
  eviction(uid: string, decision: PodEvictionDecision | undefined): void;
}

/**
 * The node's decisions about its pods, in pod-sync's bucket (`admit.<uid>`,
 * `evict.<uid>`): taken by the replica that leads (it alone admits, in creation order,
 * and runs the eviction manager and the node shutdown), carried out by the replica
 * that syncs the pod, and by whichever syncs it after that. Every replica follows them
 * all, so one that takes a shard over knows them already, and so does the next leader.
 * A decision taken here counts here at once; the bucket carries it to the others.
 */
export class PodDecisions {
  private readonly admissions = new Map<string, AdmissionDecision>();
  private readonly evictions = new Map<string, PodEvictionDecision>();
  private readonly waiters = new Map<string, Set<() => void>>();

  constructor(
    private readonly bucket: () => Promise<KV>,
    private readonly listener: DecisionListener,
    private readonly clock: Clock,
    private readonly logger: Logger,
  ) {}

  /** Follows the decisions until signal aborts (a watch that ends or fails is opened again). */
  async run(signal: AbortSignal): Promise<void> {
    await Promise.all([this.follow('admit', signal), this.follow('evict', signal)]);
  }

  private async follow(kind: 'admit' | 'evict', signal: AbortSignal): Promise<void> {
    while (!signal.aborted) {
      try {
        const kv = await this.bucket();
        if (kind === 'admit') {
          await watchBucket(kv, podsyncv1.AdmissionDecisionSchema, (key, value) => this.admissionSeen(key.slice('admit.'.length), value), { logger: this.logger, signal, key: 'admit.*', undecodable: 'absent' });
        } else {
          await watchBucket(kv, podsyncv1.PodEvictionSchema, (key, value) => this.evictionSeen(key.slice('evict.'.length), value), { logger: this.logger, signal, key: 'evict.*', undecodable: 'absent' });
        }
      } catch (err) {
        this.logger.debug({ err, kind }, 'cannot follow the pod decisions');
      }
      await this.clock.sleep(1_000, signal).catch(() => undefined);
    }
  }

  /** The pod's admission as decided, if it was. */
  admission(uid: string): AdmissionDecision | undefined {
    return this.admissions.get(uid);
  }

  /** The pod's eviction, if one was decided. */
  eviction(uid: string): PodEvictionDecision | undefined {
    return this.evictions.get(uid);
  }

  /** The pod's admission once it is decided (another replica's, coming through the bucket), or undefined after ms. */
  async waitAdmission(uid: string, ms: number): Promise<AdmissionDecision | undefined> {
    const known = this.admissions.get(uid);
    if (known) return known;
    const stop = new AbortController();
    let wake = () => {};
    const seen = new Promise<void>((resolve) => (wake = resolve));
    const set = this.waiters.get(uid) ?? new Set();
    set.add(wake);
    this.waiters.set(uid, set);
    try {
      await Promise.race([seen, this.clock.sleep(ms, stop.signal).catch(() => undefined)]);
    } finally {
      stop.abort();
      set.delete(wake);
      if (!set.size) this.waiters.delete(uid);
    }
    return this.admissions.get(uid);
  }

  /** Decides the pod's admission: counts here at once, and is written for the others. */
  async admit(uid: string, decision: { admitted: boolean; reason?: string; message?: string; finished?: boolean }): Promise<void> {
    const value = create(podsyncv1.AdmissionDecisionSchema, decision);
    this.admissionSeen(uid, value);
    await this.put(podDecisionKey('admit', uid), toBinary(podsyncv1.AdmissionDecisionSchema, value));
  }

  /** The pod has finished as the replica syncing it knows it: the leader stops counting it against admission. */
  async finished(uid: string): Promise<void> {
    const known = this.admissions.get(uid);
    if (known?.finished) return;
    await this.admit(uid, { admitted: known?.admitted ?? true, reason: known?.reason ?? '', message: known?.message ?? '', finished: true });
  }

  /** Decides the pod's eviction: counts here at once, and is written for the replica that syncs the pod. */
  async evict(uid: string, decision: Omit<PodEvictionDecision, '$typeName'>): Promise<void> {
    const value = create(podsyncv1.PodEvictionSchema, decision);
    this.evictionSeen(uid, value);
    await this.put(podDecisionKey('evict', uid), toBinary(podsyncv1.PodEvictionSchema, value));
  }

  /** The pod is gone from the API server: its decisions go. */
  async forget(uid: string): Promise<void> {
    this.admissionSeen(uid, undefined);
    this.evictionSeen(uid, undefined);
    const kv = await this.bucket().catch(() => undefined);
    for (const key of [podDecisionKey('admit', uid), podDecisionKey('evict', uid)]) {
      if (key) await kv?.delete(key).catch((err: unknown) => this.logger.debug({ uid, err }, 'a pod decision stays in the bucket'));
    }
  }

  private async put(key: string | undefined, value: Uint8Array): Promise<void> {
    if (!key) return;
    await (await this.bucket()).put(key, value);
  }

  private admissionSeen(uid: string, value: AdmissionDecision | undefined): void {
    if (!changed(this.admissions, uid, value, (a, b) => a.admitted === b.admitted && a.reason === b.reason && a.finished === b.finished)) return;
    this.listener.admission(uid, value);
    for (const wake of this.waiters.get(uid) ?? []) wake();
  }

  private evictionSeen(uid: string, value: PodEvictionDecision | undefined): void {
    if (changed(this.evictions, uid, value, (a, b) => a.decidedAt === b.decidedAt && a.reason === b.reason)) this.listener.eviction(uid, value);
  }
}

/** Sets (or deletes) the pod's entry; says whether that changed what the map held for it. */
function changed<T>(map: Map<string, T>, uid: string, value: T | undefined, same: (a: T, b: T) => boolean): boolean {
  const before = map.get(uid);
  if (value) map.set(uid, value);
  else map.delete(uid);
  if (value && before) return !same(before, value);
  return Boolean(value ?? before);
}
