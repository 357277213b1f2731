import { randomBytes } from 'node:crypto';
import type { KV, KvEntry } from '@nats-io/kv';
import { create, ReplicaHeartbeatSchema, toBinary } from '@splitlet/contracts';
import type { Logger } from '@splitlet/telemetry';
import type { Clock } from '../clock';
import { decodeHeartbeat } from './records';

export interface ReplicaSettings {
  id: string;
  heartbeatMs: number;
  /** A replica whose heartbeat is older than this is dead (also the bucket's TTL). */
  ttlMs: number;
}

/** A replica's latest heartbeat, as this replica's watch of the bucket saw it. */
export interface MemberBeat {
  /** The replica's process (random per start). */
  incarnation: string;
  /** The heartbeat's revision in the bucket. */
  revision: number;
  /** When this replica's watch first saw that revision (its own clock): never earlier than the write. */
  seenAt: number;
  /** When the replica sent it, by its clock (the same machine's; ages count from seenAt when this is later). */
  heartbeatAt: number;
}

/** JetStream's "wrong last sequence": a compare-and-set found another revision. */
const WRONG_LAST_SEQUENCE = 10071;
export const lostRace = (err: unknown): boolean => (err as { code?: unknown }).code === WRONG_LAST_SEQUENCE;

/**
 * This replica's membership in a sharing bucket of the node (the prober's
 * SPLITLET_PROBERS_<node>): a heartbeat every heartbeatMs (the bucket's TTL removes a
 * replica that stops), and the live replicas as one watch of the bucket sees them.
 * onChange gets the sorted live ids whenever they change — at once when one joins or
 * leaves, and at the next beat when one's heartbeat went stale; this replica always
 * counts itself in, so a lone replica owns everything even while NATS is away.
 *
 * Each heartbeat is written on this process's own last one (compare-and-set), so
 * `lastBeat` — when the last one that landed so was sent — is a liveness lease
 * ShardOwnership holds its shards by: a write by another process under the same id
 * (a restart, or an id given twice) breaks it.
 */
export class Membership {
  /** This process's mark in its heartbeats. */
  readonly incarnation = randomBytes(8).toString('hex');
  private live: string[] = [];
  private readonly beats = new Map<string, MemberBeat>();
  private readonly startedAt: bigint;
  /** The revision of this process's last heartbeat that landed; 0 before the first, or after another process wrote the key. */
  private revision = 0;
  private landedAt: number | undefined;
  private readonly following = new AbortController();
  private watching: Promise<void> | undefined;
  /** Called at each entry the watch delivers (join waits for its own heartbeat to come round). */
  private readonly waiters = new Set<() => void>();

  constructor(
    private readonly kv: KV,
    private readonly settings: ReplicaSettings,
    private readonly clock: Clock,
    private readonly logger: Logger,
    private readonly onChange: (live: readonly string[]) => void,
  ) {
    this.startedAt = nanos(clock.now());
  }

  get members(): readonly string[] {
    return this.live;
  }

  /**
   * When this replica's last heartbeat that landed on its own previous one was sent,
   * by its own clock; undefined before the first landed.
   */
  get lastBeat(): number | undefined {
    return this.landedAt;
  }

  /** A replica's latest heartbeat as the watch saw it, while the watch remembers it. */
  beatOf(id: string): MemberBeat | undefined {
    return this.beats.get(id);
  }

  /**
   * Announces this replica and learns the others (before the first keys are owned): the
   * watch has delivered every heartbeat written before this one once it delivers this
   * one (a stream's order), or heartbeatMs passed.
   */
  async join(): Promise<void> {
    this.watching ??= this.follow();
    await this.beat();
    const own = () => this.revision !== 0 && (this.beats.get(this.settings.id)?.revision ?? 0) >= this.revision;
    if (!own()) {
      const stop = new AbortController();
      await Promise.race([
        new Promise<void>((resolve) => {
          const check = () => {
            if (!own()) return;
            this.waiters.delete(check);
            resolve();
          };
          this.waiters.add(check);
          stop.signal.addEventListener('abort', () => this.waiters.delete(check), { once: true });
        }),
        this.clock.sleep(this.settings.heartbeatMs, stop.signal).catch(() => undefined),
      ]);
      stop.abort();
    }
    this.update();
  }

  /** Beats until signal aborts, then leaves (deletes its own heartbeat) so the others take over at once. */
  async run(signal: AbortSignal): Promise<void> {
    this.watching ??= this.follow();
    try {
      for (;;) {
        await this.clock.sleep(this.settings.heartbeatMs, signal);
        await this.beat().catch((err: unknown) => this.logger.warn({ err }, 'replica heartbeat failed'));
        this.update();
      }
    } catch {
      // aborted: leave
    }
    // Only this process's own heartbeat: never a successor's under the same id.
    if (this.revision) await this.kv.delete(this.settings.id, { previousSeq: this.revision }).catch(() => undefined);
    this.following.abort();
    await this.watching;
  }

  private async beat(): Promise<void> {
    const sent = this.clock.now();
    const value = toBinary(
      ReplicaHeartbeatSchema,
      create(ReplicaHeartbeatSchema, { id: this.settings.id, startedAt: this.startedAt, heartbeatAt: nanos(sent), incarnation: this.incarnation }),
    );
    try {
      // The first write takes the key whoever wrote it before (a past process of this id).
      this.revision = this.revision ? await this.kv.update(this.settings.id, value, this.revision) : await this.kv.put(this.settings.id, value);
      this.landedAt = sent;
    } catch (err) {
      if (!lostRace(err)) throw err;
      // Not on our last one: a write of ours that timed out but landed (its revision is
      // taken, the beat not counted), or another process's under this id.
      const entry = await this.kv.get(this.settings.id);
      const current = entry?.operation === 'PUT' ? decodeHeartbeat(entry) : undefined;
      if (entry && current?.incarnation === this.incarnation) {
        this.revision = entry.revision;
        return;
      }
      this.logger.error({ id: this.settings.id }, 'another process heartbeats under this replica id: give each replica its own id');
      this.revision = 0;
    }
  }

  /** Watches the bucket until the membership ends; a watch that ends or cannot start is started again after a beat. */
  private async follow(): Promise<void> {
    const signal = this.following.signal;
    while (!signal.aborted) {
      try {
        const it = await this.kv.watch();
        const stop = () => it.stop();
        if (signal.aborted) stop();
        else signal.addEventListener('abort', stop, { once: true });
        try {
          for await (const e of it) this.saw(e);
        } finally {
          signal.removeEventListener('abort', stop);
        }
      } catch (err) {
        this.logger.debug({ err }, 'cannot watch the replicas');
      }
      await this.clock.sleep(this.settings.heartbeatMs, signal).catch(() => undefined);
    }
  }

  private saw(e: KvEntry): void {
    const known = this.beats.get(e.key);
    const beat = e.operation === 'PUT' ? decodeHeartbeat(e) : undefined;
    if (!beat) {
      // Left (or a value that does not decode: no heartbeat of a live replica).
      if (known) {
        this.beats.delete(e.key);
        this.update();
      }
    } else if (known?.revision !== e.revision) {
      // A watch started again delivers the revisions it had seen: their first sight stays.
      this.beats.set(e.key, { incarnation: beat.incarnation, revision: e.revision, seenAt: this.clock.now(), heartbeatAt: Number(beat.heartbeatAt / 1_000_000n) });
      // A replica that joins counts at once; one that beats changes nothing.
      if (!known) this.update();
    }
    for (const w of [...this.waiters]) w();
  }

  /** The live replicas now: this one, and each whose last heartbeat is within the TTL. */
  private update(): void {
    const now = this.clock.now();
    const ids = new Set([this.settings.id]);
    for (const [id, b] of this.beats) {
      // The heartbeat's own time, or when it was seen if that is earlier (a time in the future is not believed).
      const age = now - Math.min(b.heartbeatAt, b.seenAt);
      if (age <= this.settings.ttlMs) ids.add(id);
      // The bucket's TTL removes an entry without a word to its watchers: forgotten here
      // long after it stopped counting (ShardOwnership reads it until a lease after).
      else if (age > 10 * this.settings.ttlMs && id !== this.settings.id) this.beats.delete(id);
    }
    const live = [...ids].sort();
    if (live.join(',') === this.live.join(',')) return;
    this.logger.info({ replicas: live }, 'replicas changed');
    this.live = live;
    this.onChange(live);
  }
}

export const nanos = (ms: number): bigint => BigInt(ms) * 1_000_000n;
