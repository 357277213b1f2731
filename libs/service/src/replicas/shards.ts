import type { KV } from '@nats-io/kv';
import { shardOf } from '@splitlet/bus';
import { create, LeaderRecordSchema, toBinary } from '@splitlet/contracts';
import type { Logger } from '@splitlet/telemetry';
import { untilAborted } from '../host';
import type { Clock } from '../clock';
import { leaderSettingsErrors } from './leader-election';
import { lostRace, Membership, nanos } from './membership';
import { decodeHeartbeat, decodeLeader, TIMED_OUT, within, type LeaderRecord } from './records';
import { rendezvousOwner } from './rendezvous';


export interface ShardSettings {
  /** This replica's id: its heartbeat key and the holder its shard keys name. */
  id: string;
  /** How many shards the keys are spread over: every replica of the service must agree. */
  shards: number;
  /** Membership: a heartbeat every heartbeatMs; a replica silent for ttlMs is dead. */
  heartbeatMs: number;
  ttlMs: number;
  /**
   * The lease (leaseMs > renewDeadlineMs > retryMs, heartbeatMs < renewDeadlineMs): a
   * replica gives up its shards when none of its heartbeats landed for renewDeadlineMs;
   * a candidate takes a shard held by another once it has seen the holder's heartbeat
   * stand still for leaseMs; retryMs is how often a candidate looks.
   */
  leaseMs: number;
  renewDeadlineMs: number;
  retryMs: number;
}

/** What a settings object must satisfy; a service's config checks it at start. */
export function shardSettingsErrors(s: Omit<ShardSettings, 'id'>): string[] {
  const errors = leaderSettingsErrors(s);
  if (!Number.isInteger(s.shards) || s.shards < 1) errors.push('the shard count must be a whole number of at least 1');
  if (s.heartbeatMs >= s.ttlMs) errors.push('the heartbeat must be shorter than the replica TTL');
  if (s.heartbeatMs >= s.renewDeadlineMs) errors.push('the heartbeat must be shorter than the renew deadline');
  return errors;
}

/**
 * The heartbeat bucket's TTL for replicas that share shards: a replica's heartbeat
 * stays readable for a lease past the point it stops counting as live (ttlMs), so a
 * candidate sees a dead holder's last heartbeat stand still for a lease instead of
 * finding it gone (which it must time from its own look: a lease later).
 */
export const shardMembersTtlMs = (s: Pick<ShardSettings, 'ttlMs' | 'leaseMs'>): number => s.ttlMs + s.leaseMs;

/** The key a shard is held by in the leases bucket. */
export const shardKey = (shard: number): string => `shard.${shard}`;


/** Why a term on a shard ended. */
type TermEnd = 'stopped' | 'failed' | 'lapsed' | 'lost';

/**
 * Keys (a node's pods) split among a service's replicas, each key worked on by one
 * replica at a time, also while replicas join, leave, crash or are cut off from NATS.
 *
 * The keys fall into a fixed number of shards (shardOf). Which replica should hold a
 * shard is rendezvous hashing over the live replicas (Membership's heartbeats), as
 * the prober shares its pods. Holding it is a fence of its own, a lease as client-go's
 * leaderelection holds a Lease, with one change that keeps an idle replica quiet: the
 * lease is the replica's heartbeat, not a renewal per shard.
 * - Each shard has a key in the leases bucket naming its holder (replica id and
 *   process), written only to take the shard or let it go, each write a
 *   compare-and-set on the revision read: two replicas cannot both take it.
 * - A replica works on its shards only while its own heartbeats land (each on its
 *   last, Membership.lastBeat): when none has for renewDeadlineMs, every term ends.
 * - A candidate takes a shard another holds only once it has seen that holder's
 *   heartbeat (of the process the key names) stand still for leaseMs by its own clock
 *   (> renewDeadlineMs: the holder has stopped by then), or gone; counted from when
 *   its watch of the heartbeats first saw that heartbeat, never earlier than the write.
 * - A holder cut off that comes back takes its shards again by the same
 *   compare-and-set, so it resumes only if no one took them meanwhile.
 * A replica stands for the shards the hashing gives it, and only those; it lets a
 * shard go (deletes the key, with its revision) when the hashing gives it to another,
 * once its work on the shard has stopped (`hold` returned), and the new holder takes
 * it at its next look. So the hand-over always waits for the previous holder: its
 * release, or its heartbeat standing still for a lease when it died or was cut off.
 *
 * While a replica holds a shard, `hold(shard, term)` runs; term aborts when the shard
 * must go (moved to another, this replica stopping, its heartbeats failing, the key
 * taken by another), and the key is let go only once hold has returned: hold stops its
 * work and hands over what its successor needs before it returns. hold has the
 * lease's margin over the renew deadline to return once its term aborts.
 */
export class ShardOwnership {
  private readonly membership: Membership;
  /** The shards this replica stands for: the campaign's stop, and its end. */
  private readonly campaigns = new Map<number, { stop: AbortController; done: Promise<void> }>();
  /** A campaign stopped but not yet ended, per shard: the next one waits for it. */
  private readonly ending = new Map<number, Promise<void>>();
  /** The shards held now: the key's revision as taken, and how to end the term. */
  private readonly terms = new Map<number, { revision: number; end: (why: TermEnd) => void }>();
  private stopped = false;
  /** Each shard's holder as the leases watch last showed it (no entry: no holder). */
  private readonly holders = new Map<number, string>();

  constructor(
    private readonly membersKv: KV,
    private readonly leasesKv: KV,
    private readonly settings: ShardSettings,
    private readonly clock: Clock,
    private readonly logger: Logger,
    private readonly hold: (shard: number, term: AbortSignal) => Promise<void>,
  ) {
    this.membership = new Membership(membersKv, { id: settings.id, heartbeatMs: settings.heartbeatMs, ttlMs: settings.ttlMs }, clock, logger, (live) =>
      this.rebalance(live),
    );
  }

  /** The live replicas, sorted (this one included). */
  get members(): readonly string[] {
    return this.membership.members;
  }

  /** Whether this replica holds the shard now (its key is ours and hold runs). */
  holds(shard: number): boolean {
    return this.terms.has(shard);
  }

  /** Whether this replica holds the shard the key falls in. */
  holdsKey(key: string): boolean {
    return this.terms.has(shardOf(key, this.settings.shards));
  }

  /**
   * Whether every shard is held by a live replica (as this one's watches show the keys
   * and the heartbeats): false while a shard is free or its holder is gone, i.e. while
   * what is known of that shard's keys may be stale until its next holder takes it.
   */
  settled(): boolean {
    const live = new Set(this.membership.members);
    for (let shard = 0; shard < this.settings.shards; shard++) {
      const holder = this.holders.get(shard);
      if (holder === undefined || !live.has(holder)) return false;
    }
    return true;
  }

  /** The shards held now, ascending. */
  get heldShards(): number[] {
    return [...this.terms.keys()].sort((a, b) => a - b);
  }

  /**
   * Joins, stands for this replica's shards and follows the members until signal
   * aborts; then lets every shard go (each once its hold has returned) and leaves.
   */
  async run(signal: AbortSignal): Promise<void> {
    const membership = new AbortController();
    const watching = this.watchLeases(membership.signal);
    await this.membership.join().catch((err: unknown) => this.logger.warn({ err }, 'replica heartbeat failed'));
    // A first beat that failed leaves the members empty: this replica counts itself in.
    if (this.membership.members.length === 0) this.rebalance([this.settings.id]);
    const beating = this.membership.run(membership.signal);
    await untilAborted(signal);
    this.stopped = true;
    const ends = [...this.campaigns.values()].map((c) => {
      c.stop.abort();
      return c.done;
    });
    this.campaigns.clear();
    // Heartbeats go on until the shards are let go: they are the lease the work runs under.
    await Promise.all([...ends, ...this.ending.values()]);
    membership.abort();
    await Promise.all([beating, watching]);
  }

  /**
   * Watches the shard keys: a term whose key another took (a replica given this one's
   * id, or a hand-over this one missed while cut off) ends at once. Retried until
   * signal aborts.
   */
  private async watchLeases(signal: AbortSignal): Promise<void> {
    while (!signal.aborted) {
      try {
        const it = await this.leasesKv.watch({ key: 'shard.*' });
        const stop = () => it.stop();
        if (signal.aborted) stop();
        else signal.addEventListener('abort', stop, { once: true });
        try {
          for await (const e of it) {
            const shard = Number(e.key.slice('shard.'.length));
            const holder = e.operation === 'PUT' ? decodeLeader(e)?.holder : undefined;
            if (holder) this.holders.set(shard, holder);
            else this.holders.delete(shard);
            const term = this.terms.get(shard);
            if (term && e.revision > term.revision) term.end('lost');
          }
        } finally {
          signal.removeEventListener('abort', stop);
        }
      } catch (err) {
        this.logger.debug({ err }, 'cannot watch the shard keys');
      }
      await this.clock.sleep(this.settings.retryMs, signal).catch(() => undefined);
    }
  }

  private rebalance(live: readonly string[]): void {
    if (this.stopped) return;
    for (let shard = 0; shard < this.settings.shards; shard++) {
      const mine = rendezvousOwner(shardKey(shard), live) === this.settings.id;
      const campaign = this.campaigns.get(shard);
      if (mine && !campaign) this.stand(shard);
      if (!mine && campaign) {
        this.campaigns.delete(shard);
        campaign.stop.abort();
        const done = campaign.done.finally(() => {
          if (this.ending.get(shard) === done) this.ending.delete(shard);
        });
        this.ending.set(shard, done);
      }
    }
  }

  /** Stands for a shard until its campaign is stopped: after the previous campaign for it has ended. */
  private stand(shard: number): void {
    const stop = new AbortController();
    const previous = this.ending.get(shard) ?? Promise.resolve();
    const done = previous.then(() => this.campaign(shard, stop.signal));
    this.campaigns.set(shard, { stop, done });
  }

  /**
   * Takes the shard whenever it may and holds it until stop aborts; then lets it go.
   * The key's revision this replica wrote last and has not let go is `ours`.
   */
  private async campaign(shard: number, stop: AbortSignal): Promise<void> {
    let ours: number | undefined;
    let observed: { token: string; at: number } | undefined;
    while (!stop.aborted) {
      const took = await this.tryTake(shard, observed, (o) => (observed = o)).catch((err: unknown) => {
        this.logger.debug({ err, shard }, 'cannot take the shard');
        return undefined;
      });
      if (took !== undefined) {
        ours = took;
        observed = undefined;
        const why = await this.term(shard, took, stop);
        if (why === 'lost') ours = undefined;
        // Lapsed: the key stays ours, taken again (compare-and-set) once heartbeats land.
        if (why === 'failed' && (await this.release(shard, took, stop))) ours = undefined;
        if (why !== 'failed' && why !== 'lapsed') continue;
      }
      await this.clock.sleep(this.settings.retryMs, stop).catch(() => undefined);
    }
    if (ours !== undefined) await this.release(shard, ours);
  }

  /**
   * One look at the shard's key: takes it (returns the revision written) when it is
   * free, this process's own, or another's whose heartbeat stood still for a lease.
   */
  private async tryTake(shard: number, observed: { token: string; at: number } | undefined, observe: (o: { token: string; at: number }) => void): Promise<number | undefined> {
    if (this.leaseLeftMs() <= 0) return undefined;
    const key = shardKey(shard);
    const entry = await within(this.clock, this.leasesKv.get(key), this.settings.retryMs);
    if (entry === TIMED_OUT) return undefined;
    const present = entry?.operation === 'PUT';
    const current = present ? decodeLeader(entry) : undefined;
    const ours = current?.holder === this.settings.id && current.incarnation === this.membership.incarnation;
    if (present && !ours) {
      const holder = await this.holderToken(current);
      if (holder === TIMED_OUT) return undefined;
      const now = this.clock.now();
      if (observed?.token !== holder.token) {
        observed = { token: holder.token, at: Math.min(holder.seenAt ?? now, now) };
        observe(observed);
        // First sight by this look: counted from here, so not yet.
        if (holder.seenAt === undefined) return undefined;
      }
      if (now - observed.at < this.settings.leaseMs) return undefined;
      this.logger.info({ holder: current?.holder, shard }, "the shard's holder has not beaten for a lease: taking the shard over");
    }
    const now = this.clock.now();
    const record = create(LeaderRecordSchema, {
      holder: this.settings.id,
      incarnation: this.membership.incarnation,
      acquiredAt: nanos(now),
      renewedAt: nanos(now),
      leaseMs: this.settings.leaseMs,
      transitions: (current?.transitions ?? 0) + (present && !ours ? 1 : 0),
    });
    const value = toBinary(LeaderRecordSchema, record);
    try {
      const revision = await within(this.clock, entry ? this.leasesKv.update(key, value, entry.revision, this.settings.retryMs) : this.leasesKv.create(key, value), this.settings.retryMs);
      return revision === TIMED_OUT ? undefined : revision;
    } catch (err) {
      // Another wrote first (the normal race), or the bucket refuses us: that one is said.
      if (!lostRace(err)) this.logger.warn({ err, shard }, 'cannot write the shard key');
      return undefined;
    }
  }

  /**
   * The holder's liveness as of now: its heartbeat's revision when it is of the process
   * the key names, else gone; and when this replica's watch first saw that revision.
   * Read from the bucket, not the watch (which may lag): a later heartbeat is never missed.
   */
  private async holderToken(current: LeaderRecord | undefined): Promise<{ token: string; seenAt?: number } | typeof TIMED_OUT> {
    if (!current?.holder) return { token: 'gone' };
    const entry = await within(this.clock, this.membersKv.get(current.holder), this.settings.retryMs);
    if (entry === TIMED_OUT) return TIMED_OUT;
    const beat = entry?.operation === 'PUT' ? this.membership.beatOf(current.holder) : undefined;
    const value = entry?.operation === 'PUT' ? decodeHeartbeat(entry) : undefined;
    if (!entry || value?.incarnation !== current.incarnation) return { token: 'gone' };
    return { token: `${current.holder}@${entry.revision}`, seenAt: beat?.revision === entry.revision ? beat.seenAt : undefined };
  }

  /** How long this replica may still work on its shards: its last landed heartbeat plus the renew deadline, from now. */
  private leaseLeftMs(): number {
    return (this.membership.lastBeat ?? -Infinity) + this.settings.renewDeadlineMs - this.clock.now();
  }

  /** Holds the shard taken at revision until its term ends; says why it ended. */
  private async term(shard: number, revision: number, stop: AbortSignal): Promise<TermEnd> {
    const term = new AbortController();
    let why: TermEnd = 'stopped';
    const end = (w: TermEnd) => {
      if (term.signal.aborted) return;
      why = w;
      term.abort();
    };
    const onStop = () => end('stopped');
    stop.addEventListener('abort', onStop, { once: true });
    if (stop.aborted) onStop();
    this.terms.set(shard, { revision, end });
    this.logger.info({ shard }, 'holding the shard');
    const watchdog = this.watchLiveness(term.signal, () => end('lapsed'));
    let endedAt: number | undefined;
    term.signal.addEventListener('abort', () => (endedAt = this.clock.now()), { once: true });
    try {
      await this.hold(shard, term.signal);
      // hold returned by itself: its work ended, as if it failed.
      if (!term.signal.aborted) end('failed');
    } catch (err) {
      end('failed');
      this.logger.error({ err, shard }, 'the work on a shard failed');
    } finally {
      this.terms.delete(shard);
      stop.removeEventListener('abort', onStop);
    }
    await watchdog;
    // The term's work must be over before another may start: within the lease's margin over the deadline.
    const windDown = this.clock.now() - (endedAt ?? this.clock.now());
    if (windDown > this.settings.leaseMs - this.settings.renewDeadlineMs) this.logger.warn({ shard, windDownMs: windDown }, 'the shard was held longer than the lease allows: another may have taken it meanwhile');
    this.logger.info({ shard, why }, 'stopped holding the shard');
    return why;
  }

  /** Ends the term (lapsed) when no heartbeat has landed for the renew deadline; returns when the term ends. */
  private async watchLiveness(term: AbortSignal, lapsed: () => void): Promise<void> {
    while (!term.aborted) {
      const left = this.leaseLeftMs();
      if (left <= 0) {
        this.logger.warn({ deadlineMs: this.settings.renewDeadlineMs }, 'no heartbeat landed within the renew deadline: giving the shards up');
        lapsed();
        return;
      }
      await this.clock.sleep(left, term).catch(() => undefined);
    }
  }

  /**
   * Deletes the key if it is still at the revision this replica wrote, so the next
   * holder takes it at once; retried while NATS does not answer, until this replica
   * stands for the shard again (the new campaign takes it back as its own) or is
   * stopping (one try: its heartbeat ends, and the lease runs out instead). Says
   * whether the key is no longer ours.
   */
  private async release(shard: number, revision: number, stop?: AbortSignal): Promise<boolean> {
    for (;;) {
      try {
        const done = await within(this.clock, this.leasesKv.delete(shardKey(shard), { previousSeq: revision }), this.settings.retryMs);
        if (done !== TIMED_OUT) {
          this.logger.info({ shard }, 'let the shard go');
          return true;
        }
      } catch (err) {
        if (lostRace(err)) return true; // another's already
        this.logger.debug({ err, shard }, 'cannot let the shard go');
      }
      if (this.stopped || stop?.aborted || this.campaigns.has(shard)) return false;
      await this.clock.sleep(this.settings.retryMs);
    }
  }

}
