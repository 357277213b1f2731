import type { KV } from '@nats-io/kv';
import { shardOf } from '@splitlet/bus';
import type { Logger } from '@splitlet/telemetry';
import type { Clock } from '../clock';
import { LeaderElection, leaderSettingsErrors } from './leader-election';
import { Membership } from './membership';
import { rendezvousOwner } from './rendezvous';

export interface ShardSettings {
  /** This replica's id: its heartbeat key and the holder its shard keys name. */
  id: string;
  /** How many shards the keys are spread over: every replica of the service must agree. */
  shards: number;
  /** Membership: a heartbeat every heartbeatMs; a replica silent for ttlMs is dead. */
  heartbeatMs: number;
  ttlMs: number;
  /** Each shard's key, as LeaderElection holds it (leaseMs > renewDeadlineMs > retryMs). */
  leaseMs: number;
  renewDeadlineMs: number;
  retryMs: number;
}

/** What a settings object must satisfy; a service's config checks it at start. */
export function shardSettingsErrors(s: Omit<ShardSettings, 'id'>): string[] {
  const errors = leaderSettingsErrors(s);
  if (!Number.isInteger(s.shards) || s.shards < 1) errors.push('the shard count must be a whole number of at least 1');
  if (s.heartbeatMs >= s.ttlMs) errors.push('the heartbeat must be shorter than the replica TTL');
  return errors;
}

/** The key a shard is held by in the leases bucket. */
export const shardKey = (shard: number): string => `shard.${shard}`;

/**
 * Keys (a node's pods) split among a service's replicas, each key worked on by one
 * replica at a time, also while replicas join, leave, crash or are cut off from NATS.
 *
 * The keys fall into a fixed number of shards (shardOf). Which replica should hold a
 * shard is rendezvous hashing over the live replicas (Membership's heartbeats), as
 * the prober shares its pods; holding it is a fence of its own: one key per shard in
 * the leases bucket, held as LeaderElection holds its key (compare-and-set on the
 * revision, a lease timed by each replica's own clock, renewals, stepping down at the
 * renew deadline, before the lease runs out for anyone else). A replica stands for
 * the shards the hashing gives it, and only those; it lets a shard go when the hashing
 * gives it to another, after its work on the shard has stopped (`hold` returned). So
 * the hand-over always waits for the previous holder: its release, or its lease
 * running out when it died or was cut off (it stepped down before).
 *
 * While a replica holds a shard, `hold(shard, term)` runs; term aborts when the shard
 * must go (moved to another, this replica stopping, a renewal failed), and the shard's
 * key is let go only once hold has returned: hold stops its work and hands over what
 * its successor needs before it returns.
 */
export class ShardOwnership {
  private readonly membership: Membership;
  /** The shards this replica stands for: the campaign's stop, and its end. */
  private readonly campaigns = new Map<number, { stop: AbortController; done: Promise<void> }>();
  /** A campaign stopped but not yet ended, per shard: the next one waits for it. */
  private readonly ending = new Map<number, Promise<void>>();
  private readonly held = new Set<number>();
  /** Each shard key's revision as this replica's watch of the leases first saw it, and when (its own clock). */
  private readonly seen = new Map<string, { revision: number; at: number }>();
  private stopped = false;

  constructor(
    membersKv: KV,
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
    return this.held.has(shard);
  }

  /** Whether this replica holds the shard the key falls in. */
  holdsKey(key: string): boolean {
    return this.held.has(shardOf(key, this.settings.shards));
  }

  /** The shards held now, ascending. */
  get heldShards(): number[] {
    return [...this.held].sort((a, b) => a - b);
  }

  /**
   * Joins, stands for this replica's shards and follows the members until signal
   * aborts; then leaves and lets every shard go (each once its hold has returned).
   */
  async run(signal: AbortSignal): Promise<void> {
    const watching = this.watchLeases(signal);
    await this.membership.join().catch((err: unknown) => this.logger.warn({ err }, 'replica heartbeat failed'));
    // A first beat that failed leaves the members empty: this replica counts itself in.
    if (this.membership.members.length === 0) this.rebalance([this.settings.id]);
    await this.membership.run(signal);
    this.stopped = true;
    const ends = [...this.campaigns.values()].map((c) => {
      c.stop.abort();
      return c.done;
    });
    this.campaigns.clear();
    await Promise.all([...ends, ...this.ending.values(), watching]);
  }

  /**
   * Watches every shard's key, held or not, noting when each revision was first seen:
   * a replica that comes to stand for a shard whose holder died counts the lease from
   * the holder's last write as it saw it, not from its own first look (a shard moved
   * to it after the dead replica's heartbeat went stale, or after another candidate
   * left, is taken a lease after the death instead of a TTL and a lease after it).
   * Retried until signal aborts; while it is away, a candidate times from its own look.
   */
  private async watchLeases(signal: AbortSignal): Promise<void> {
    while (!signal.aborted) {
      try {
        const it = await this.leasesKv.watch({ key: 'shard.*' });
        const stop = () => it.stop();
        signal.addEventListener('abort', stop, { once: true });
        try {
          for await (const e of it) {
            if (this.seen.get(e.key)?.revision !== e.revision) this.seen.set(e.key, { revision: e.revision, at: this.clock.now() });
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
    const election = new LeaderElection(
      this.leasesKv,
      shardKey(shard),
      { id: this.settings.id, leaseMs: this.settings.leaseMs, renewDeadlineMs: this.settings.renewDeadlineMs, retryMs: this.settings.retryMs },
      this.clock,
      this.logger,
      (revision) => {
        const seen = this.seen.get(shardKey(shard));
        return seen?.revision === revision ? seen.at : undefined;
      },
    );
    const done = previous.then(async () => {
      while (!stop.signal.aborted) {
        try {
          await election.run(stop.signal, async (term) => {
            this.held.add(shard);
            try {
              await this.hold(shard, term);
            } finally {
              this.held.delete(shard);
            }
          });
        } catch (err) {
          // The shard's work failed: its key was let go; stand again after a retry.
          this.logger.error({ err, shard }, 'the work on a shard failed');
          await this.clock.sleep(this.settings.retryMs, stop.signal).catch(() => undefined);
        }
      }
    });
    this.campaigns.set(shard, { stop, done });
  }
}
