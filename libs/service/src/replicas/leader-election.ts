import { randomBytes } from 'node:crypto';
import type { KV, KvEntry } from '@nats-io/kv';
import { create, LeaderRecordSchema, toBinary } from '@splitlet/contracts';
import type { Logger } from '@splitlet/telemetry';
import type { Clock } from '../clock';
import { lostRace, nanos } from './membership';
import { decodeLeader, TIMED_OUT, within, type LeaderRecord } from './records';

export interface LeaderSettings {
  /** This replica's id, as the record names the leader (the key is held per process besides: a restart waits out the lease). */
  id: string;
  /**
   * A candidate takes the key once it has seen the same revision for this long, by its
   * own clock (client-go's LeaseDuration).
   */
  leaseMs: number;
  /**
   * The leader stops leading when it could not renew for this long (RenewDeadline):
   * shorter than leaseMs, so it has stopped before a candidate may start.
   */
  renewDeadlineMs: number;
  /** How often the leader renews and a candidate looks (RetryPeriod). */
  retryMs: number;
}

/** What a settings object must satisfy; the services' config checks it at start. */
export function leaderSettingsErrors(s: Pick<LeaderSettings, 'leaseMs' | 'renewDeadlineMs' | 'retryMs'>): string[] {
  const errors: string[] = [];
  if (s.renewDeadlineMs >= s.leaseMs) errors.push('the renew deadline must be shorter than the lease');
  if (s.retryMs >= s.renewDeadlineMs) errors.push('the retry period must be shorter than the renew deadline');
  return errors;
}

/**
 * One leader among a service's replicas, elected through one key of a NATS KV bucket
 * of the node, as client-go's leaderelection does through a Lease: every write is a
 * compare-and-set on the revision last read, so two candidates cannot both take the
 * key; a candidate takes a key held by another only after it has seen the same
 * revision for leaseMs; the leader renews every retryMs and stops leading when it
 * could not renew for renewDeadlineMs (< leaseMs), before any candidate may take over.
 * Times are each replica's own clock; the record's times are for people only.
 *
 * A leader that stops (the service is told to stop) deletes the key — with its
 * revision, so never a successor's — and a candidate takes over at its next look.
 */
export class LeaderElection {
  /** The revision of the key a candidate last saw, and when it first saw it. */
  private observed: { revision: number; at: number } | undefined;
  /** While leading: the revision of our last write, and when that write was sent. */
  private revision = 0;
  private lastRenew = 0;
  private record: LeaderRecord | undefined;
  private isLeading = false;
  private holder: string | undefined;
  /** This process's own mark in the record: a key with our id but another incarnation is another process's. */
  private readonly incarnation = randomBytes(8).toString('hex');

  /**
   * observedAt, when given: since when this replica has seen the key at a revision (by
   * its own clock) — a watch of the key kept while not standing for it (ShardOwnership's
   * of its shards' keys) — so a candidate that stands for a key late counts the lease
   * from when the holder last wrote it as far as this replica saw, not from its own
   * first look. Never earlier than the write: the lease rule holds as before.
   */
  constructor(
    private readonly kv: KV,
    private readonly key: string,
    private readonly settings: LeaderSettings,
    private readonly clock: Clock,
    private readonly logger: Logger,
    private readonly observedAt?: (revision: number) => number | undefined,
  ) {}

  get leading(): boolean {
    return this.isLeading;
  }

  /** The holder last seen (this replica's id while it leads). */
  get leader(): string | undefined {
    return this.holder;
  }

  /**
   * Stands for election until signal aborts; while this replica leads, runs lead with a
   * signal that aborts when the term ends (signal aborted, or the key lost or not
   * renewed in time). A term ends only after lead has returned. When lead fails, the
   * key is let go and the error thrown.
   */
  async run(signal: AbortSignal, lead: (term: AbortSignal) => Promise<void>): Promise<void> {
    while (await this.acquire(signal)) {
      const term = new AbortController();
      const end = () => term.abort();
      signal.addEventListener('abort', end, { once: true });
      if (signal.aborted) end(); // told to stop while the key was being taken: the listener came too late
      this.isLeading = true;
      this.logger.info({ leader: this.settings.id, key: this.key }, 'started leading');
      let failed: { err: unknown } | undefined;
      const leading = Promise.resolve()
        .then(() => lead(term.signal))
        .then(
          () => undefined,
          (err: unknown) => {
            failed = { err };
          },
        )
        .finally(end);
      await this.renew(term.signal);
      end();
      const endedAt = this.clock.now();
      await leading;
      // The term's work must be over before a standby may start: within the lease's margin over the deadline.
      const windDown = this.clock.now() - endedAt;
      if (windDown > this.settings.leaseMs - this.settings.renewDeadlineMs) this.logger.warn({ key: this.key, windDownMs: windDown }, 'the term ended later than the lease allows: a standby may have started meanwhile');
      signal.removeEventListener('abort', end);
      this.isLeading = false;
      if (signal.aborted || failed) {
        await this.release();
        if (failed) throw failed.err;
        return;
      }
      this.logger.warn({ key: this.key }, 'stopped leading');
    }
  }

  /** Tries every retryMs until this replica holds the key (true) or signal aborts (false). */
  private async acquire(signal: AbortSignal): Promise<boolean> {
    while (!signal.aborted) {
      if (await this.tryAcquire()) return true;
      try {
        await this.clock.sleep(this.settings.retryMs, signal);
      } catch {
        return false;
      }
    }
    return false;
  }

  private async tryAcquire(): Promise<boolean> {
    const now = this.clock.now();
    let read: KvEntry | null | typeof TIMED_OUT;
    try {
      read = await within(this.clock, this.kv.get(this.key), this.settings.retryMs);
    } catch (err) {
      this.logger.debug({ err }, 'cannot read the leader key');
      return false;
    }
    if (read === TIMED_OUT) return false;
    const entry = read;
    const present = entry?.operation === 'PUT';
    const current = present ? decodeLeader(entry!) : undefined;
    const ours = current?.holder === this.settings.id && current.incarnation === this.incarnation;
    if (present && !ours) {
      this.noteHolder(current?.holder ?? '');
      if (this.observed?.revision !== entry!.revision) {
        // Timed from when the read came back (a renewal that landed while it was in
        // flight is not older than that), or from when this replica's watch first saw
        // that revision.
        const seen = this.observedAt?.(entry!.revision);
        const at = this.clock.now();
        this.observed = { revision: entry!.revision, at: seen === undefined ? at : Math.min(seen, at) };
        if (seen === undefined) return false;
      }
      if (now - this.observed.at < this.settings.leaseMs) return false;
      this.logger.info({ holder: current?.holder, key: this.key }, 'the leader did not renew within the lease: taking over');
    }
    const record = create(LeaderRecordSchema, {
      holder: this.settings.id,
      acquiredAt: ours ? current.acquiredAt : nanos(now),
      renewedAt: nanos(now),
      leaseMs: this.settings.leaseMs,
      transitions: ours ? current.transitions : (current?.transitions ?? 0) + (present ? 1 : 0),
      incarnation: this.incarnation,
    });
    try {
      const value = toBinary(LeaderRecordSchema, record);
      const revision = await within(this.clock, entry ? this.kv.update(this.key, value, entry.revision, this.settings.retryMs) : this.kv.create(this.key, value), this.settings.retryMs);
      if (revision === TIMED_OUT) return false;
      this.revision = revision;
    } catch (err) {
      // Another candidate wrote first (the normal race), or the bucket refuses us: that one is said.
      if (!lostRace(err)) this.logger.warn({ err, key: this.key }, 'cannot write the leader key');
      return false;
    }
    this.record = record;
    this.lastRenew = now;
    this.observed = undefined;
    this.noteHolder(this.settings.id);
    return true;
  }

  /** Renews every retryMs until term aborts, the key is another's, or the deadline passes. */
  private async renew(term: AbortSignal): Promise<void> {
    for (;;) {
      const deadline = this.lastRenew + this.settings.renewDeadlineMs;
      try {
        await this.clock.sleep(Math.max(0, Math.min(this.settings.retryMs, deadline - this.clock.now())), term);
      } catch {
        return;
      }
      const started = this.clock.now();
      if (started >= deadline) {
        this.logger.warn({ key: this.key, deadlineMs: this.settings.renewDeadlineMs }, 'failed to renew the leader key in time: stepping down');
        return;
      }
      // The whole attempt (the write, and the read after a refused one) ends by the deadline, whatever NATS does.
      const outcome = await within(this.clock, this.renewOnce(started, deadline), deadline - started).then((o) => (o === TIMED_OUT ? 'failed' : o));
      if (outcome === 'renewed') this.lastRenew = started;
      if (outcome === 'lost') {
        this.logger.warn({ key: this.key, holder: this.holder }, 'the leader key is held by another: stepping down');
        return;
      }
    }
  }

  private async renewOnce(now: number, deadline: number): Promise<'renewed' | 'lost' | 'failed'> {
    const { holder, acquiredAt, leaseMs, transitions, incarnation } = this.record ?? create(LeaderRecordSchema);
    const record = create(LeaderRecordSchema, { holder, acquiredAt, leaseMs, transitions, incarnation, renewedAt: nanos(now) });
    try {
      this.revision = await this.kv.update(this.key, toBinary(LeaderRecordSchema, record), this.revision, Math.max(1, deadline - now));
      this.record = record;
      return 'renewed';
    } catch (err) {
      // Not at our revision (a write of ours that timed out but landed, or another's), or NATS did not answer.
      const left = deadline - this.clock.now();
      const entry = left > 0 ? await this.kv.get(this.key).catch((): typeof TIMED_OUT => TIMED_OUT) : TIMED_OUT;
      if (entry === TIMED_OUT) {
        this.logger.warn({ err, key: this.key }, 'failed to renew the leader key');
        return 'failed';
      }
      const current = entry?.operation === 'PUT' ? decodeLeader(entry) : undefined;
      if (current?.holder === this.settings.id && current.incarnation === this.incarnation && entry) {
        this.revision = entry.revision;
        return 'failed';
      }
      this.noteHolder(current?.holder ?? '');
      return 'lost';
    }
  }

  /** Deletes the key if it still is at our last revision, so a candidate takes over at once. */
  private async release(): Promise<void> {
    try {
      await within(this.clock, this.kv.delete(this.key, { previousSeq: this.revision }), this.settings.retryMs);
      this.logger.info({ key: this.key }, 'let the leader key go');
    } catch {
      // already another's, or NATS is away: the lease runs out instead
    }
    this.holder = undefined;
  }

  private noteHolder(holder: string): void {
    if (holder === this.holder) return;
    this.holder = holder;
    this.logger.info({ leader: holder || undefined, key: this.key }, 'new leader');
  }

}
