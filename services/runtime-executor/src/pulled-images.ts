import { inject, injectable } from 'tsyringe';
import type { KV } from '@nats-io/kv';
import type { NatsConnection } from '@nats-io/transport-node';
import { kvPut, openBucket, pulledImagesBucket, watchBucket } from '@splitlet/bus';
import { PulledImageSchema } from '@splitlet/contracts';
import { TOKENS, type Runnable } from '@splitlet/service';
import type { Logger } from '@splitlet/telemetry';
import { RT } from './tokens';

/** An image as the executor lists it: what decides whether it is the node's. */
export interface ImageNames {
  id: string;
  repoTags: readonly string[];
}

/**
 * A name as Docker lists it in RepoTags: Docker Hub's `docker.io/` and `library/`
 * dropped, `:latest` added when the name has neither tag nor digest.
 */
export function familiarName(ref: string): string {
  let name = ref.trim();
  for (const hub of ['docker.io/', 'index.docker.io/']) if (name.startsWith(hub)) name = name.slice(hub.length);
  if (name.startsWith('library/') && name.split('/').length === 2) name = name.slice('library/'.length);
  if (name.includes('@')) return name;
  const lastPart = name.slice(name.lastIndexOf('/') + 1);
  return lastPart.includes(':') ? name : `${name}:latest`;
}

/** A name's key: `name.<the name in unpadded base64url>`; an image ID's: `id.<hex>`. */
const nameKey = (name: string) => `name.${Buffer.from(name).toString('base64url')}`;
const idKey = (id: string) => `id.${id.replace(/^sha256:/, '')}`;

/**
 * The images that are the node's: the names it pulled itself, recorded in the node's
 * images bucket (shared by every replica, kept across restarts), as containerd's
 * `k8s.io` namespace keeps a kubelet to the images it pulled. On a Docker engine that
 * other nodes, the lab or the operator also use, image garbage collection may then
 * remove only those: every other image is pinned (the CRI's Image.pinned), and so is
 * the pause image. An image is the node's when a pull of the node's resolved to it
 * (by tag or digest; its tag may have moved on since, as a re-pulled `:latest`'s) and
 * each tag it has now is a name the node pulled.
 * A record that could not be written leaves the image pinned: never removed by mistake.
 */
@injectable()
export class PulledImages implements Runnable {
  /** The image ID each name pulled resolved to, by familiar name. */
  private readonly byName = new Map<string, string>();
  /** Every image ID a pull resolved to: still the node's once its tag has moved on (a re-pulled `:latest`). */
  private readonly ids = new Set<string>();
  /** When each image ID was last recorded (ms): reconcile leaves a pull newer than its listing alone. */
  private readonly recordedAt = new Map<string, number>();
  private kv: Promise<KV> | undefined;

  constructor(
    @inject(TOKENS.Nats) private readonly nc: NatsConnection,
    @inject(TOKENS.NodeName) private readonly nodeName: string,
    @inject(RT.PauseImage) private readonly pauseImage: string,
    @inject(TOKENS.Logger) private readonly logger: Logger,
  ) {}

  /** Follows the bucket (the other replicas' pulls and removals) until the signal aborts. */
  async run(signal: AbortSignal): Promise<void> {
    const kv = await this.bucket();
    await watchBucket(
      kv,
      PulledImageSchema,
      (key, value) => {
        const [kind, rest = ''] = key.split(/\.(.*)/s);
        if (kind === 'name') {
          const name = Buffer.from(rest, 'base64url').toString();
          if (value && familiarName(value.ref) === name) this.byName.set(name, value.imageId);
          else this.byName.delete(name);
        } else if (kind === 'id') {
          if (value && idKey(value.imageId) === key) {
            this.ids.add(value.imageId);
            this.recordedAt.set(value.imageId, Number(value.pulledAt / 1_000_000n));
          } else {
            this.ids.delete(`sha256:${rest}`);
            this.recordedAt.delete(`sha256:${rest}`);
          }
        }
      },
      // A value that does not decode counts as no record: the image stays pinned.
      { logger: this.logger, signal, undecodable: 'absent' },
    );
  }

  /** Records that the node pulled `ref`, which resolved to `imageId`. */
  async record(ref: string, imageId: string): Promise<void> {
    const name = familiarName(ref);
    const now = Date.now();
    this.byName.set(name, imageId);
    this.ids.add(imageId);
    this.recordedAt.set(imageId, now);
    try {
      const kv = await this.bucket();
      const value = { ref: name, imageId, pulledAt: BigInt(now) * 1_000_000n };
      await kvPut(kv, idKey(imageId), PulledImageSchema, value);
      await kvPut(kv, nameKey(name), PulledImageSchema, value);
    } catch (err) {
      this.logger.warn({ image: name, err: (err as Error).message }, 'could not record the pull: the image stays pinned (never garbage-collected) once this replica restarts');
    }
  }

  /**
   * Forgets a removed image: its ID, and the names that still resolve to it (a name
   * pulled again since, onto another image, stays). A record that cannot be deleted is
   * logged: the image is gone anyway, and the record only names it.
   */
  async forget(image: ImageNames): Promise<void> {
    const names = new Set([...image.repoTags.map(familiarName), ...[...this.byName].filter(([, id]) => id === image.id).map(([name]) => name)]);
    this.ids.delete(image.id);
    this.recordedAt.delete(image.id);
    const keys = [idKey(image.id)];
    for (const name of names) {
      if (this.byName.get(name) !== image.id) continue;
      this.byName.delete(name);
      keys.push(nameKey(name));
    }
    await this.purge(keys);
  }

  /**
   * Drops the records of images the engine no longer has (removed by someone else),
   * at most once a minute: called with the IDs the engine listed at `listedAt` (ms). A
   * pull recorded since is not in that list and keeps its record. Purged, not
   * deleted, so the bucket keeps no tombstone for them.
   */
  async reconcile(present: ReadonlySet<string>, listedAt: number): Promise<void> {
    const now = Date.now();
    if (now - this.reconciledAt < 60_000) return;
    this.reconciledAt = now;
    const gone = (id: string) => !present.has(id) && (this.recordedAt.get(id) ?? 0) < listedAt;
    const keys: string[] = [];
    for (const id of [...this.ids]) {
      if (!gone(id)) continue;
      this.ids.delete(id);
      this.recordedAt.delete(id);
      keys.push(idKey(id));
    }
    for (const [name, id] of [...this.byName]) {
      if (!gone(id)) continue;
      this.byName.delete(name);
      keys.push(nameKey(name));
    }
    await this.purge(keys);
  }

  private reconciledAt = 0;

  private async purge(keys: readonly string[]): Promise<void> {
    if (!keys.length) return;
    try {
      const kv = await this.bucket();
      for (const key of keys) await kv.purge(key);
    } catch (err) {
      this.logger.warn({ keys, err: (err as Error).message }, 'could not drop the records of removed images');
    }
  }

  /** Whether the node must not remove the image (the CRI's Image.pinned). */
  pinned(image: ImageNames): boolean {
    const tags = image.repoTags.map(familiarName);
    if (tags.includes(familiarName(this.pauseImage))) return true;
    return !this.ids.has(image.id) || !tags.every((t) => this.byName.has(t));
  }

  private bucket(): Promise<KV> {
    this.kv ??= openBucket(this.nc, pulledImagesBucket(this.nodeName));
    this.kv.catch(() => (this.kv = undefined));
    return this.kv;
  }
}
