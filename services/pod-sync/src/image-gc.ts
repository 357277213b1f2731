import { SpanKind, SpanStatusCode, trace, type Span } from '@opentelemetry/api';
import type { ServiceClient } from '@splitlet/bus';
import type { ImageService, RuntimeService } from '@splitlet/contracts';
import type { Clock } from '@splitlet/service';
import { ATTR, type Logger } from '@splitlet/telemetry';

/** What the collector asks of the runtime: the images, the image filesystem, removal, and the containers that use images. */
export type ImageGcRuntime = Pick<ServiceClient<typeof ImageService>, 'listImages' | 'imageFsInfo' | 'removeImage'> & Pick<ServiceClient<typeof RuntimeService>, 'listContainers'>;

/**
 * The kubelet's ImageGCPolicy (pkg/kubelet/images/image_gc_manager.go), with its
 * defaults: --image-gc-high-threshold 85, --image-gc-low-threshold 80,
 * --image-minimum-gc-age 2m, --image-maximum-gc-age 0 (off).
 */
export interface ImageGCPolicy {
  /** At or above this percent of the image filesystem in use, images are collected. */
  highThresholdPercent: number;
  /** Collection frees down to this percent. */
  lowThresholdPercent: number;
  /** An image first seen less than this long ago is not collected. */
  minAgeMs: number;
  /** An unused image not used for longer than this is collected whatever the disk; 0: never. */
  maxAgeMs: number;
}

export const DEFAULT_IMAGE_GC_POLICY: ImageGCPolicy = { highThresholdPercent: 85, lowThresholdPercent: 80, minAgeMs: 120_000, maxAgeMs: 0 };

/** The kubelet's ImageGCPeriod (a constant there): how often images are detected and collected. */
export const DEFAULT_IMAGE_GC_PERIOD_MS = 300_000;

/** The kubelet's validation of the policy (apis/config/validation): the errors, none when valid. */
export function imageGCPolicyErrors(p: ImageGCPolicy): string[] {
  const errors: string[] = [];
  if (!(p.highThresholdPercent >= 0 && p.highThresholdPercent <= 100)) errors.push(`imageGCHighThresholdPercent (--image-gc-high-threshold) ${p.highThresholdPercent} must be between 0 and 100, inclusive`);
  if (!(p.lowThresholdPercent >= 0 && p.lowThresholdPercent <= 100)) errors.push(`imageGCLowThresholdPercent (--image-gc-low-threshold) ${p.lowThresholdPercent} must be between 0 and 100, inclusive`);
  if (p.lowThresholdPercent >= p.highThresholdPercent) errors.push(`imageGCLowThresholdPercent (--image-gc-low-threshold) ${p.lowThresholdPercent} must be less than imageGCHighThresholdPercent (--image-gc-high-threshold) ${p.highThresholdPercent}`);
  if (p.minAgeMs < 0) errors.push(`imageMinimumGCAge ${p.minAgeMs}ms must not be negative`);
  if (p.maxAgeMs < 0) errors.push(`imageMaximumGCAge ${p.maxAgeMs}ms must not be negative`);
  if (p.maxAgeMs > 0 && p.maxAgeMs <= p.minAgeMs) errors.push(`imageMaximumGCAge ${p.maxAgeMs}ms must be greater than imageMinimumGCAge ${p.minAgeMs}ms`);
  return errors;
}

/** What the collector knows of one image (imageRecord). Times are the clock's ms; lastUsed 0: never seen in use. */
interface ImageRecord {
  firstDetected: number;
  lastUsed: number;
  size: bigint;
  pinned: boolean;
}

interface EvictionInfo extends ImageRecord {
  id: string;
}

/** Records a Warning Event about the Node. */
export type NodeWarning = (reason: string, message: string) => void;

const tracer = trace.getTracer('pod-sync');

/**
 * The kubelet's formatSize: "512 B", "1.5 KiB", "20.0 MiB", "3.2 GiB" — Go's `%.1f`,
 * which rounds an exact half to even (1280 B is "1.2 KiB"; toFixed would say 1.3).
 */
export function formatSize(bytes: bigint): string {
  const units: [bigint, string][] = [
    [1024n ** 4n, 'TiB'],
    [1024n ** 3n, 'GiB'],
    [1024n ** 2n, 'MiB'],
    [1024n, 'KiB'],
  ];
  for (const [unit, name] of units) {
    if (bytes < unit) continue;
    let tenths = (bytes * 10n) / unit;
    const rest = (bytes * 10n) % unit;
    if (rest * 2n > unit || (rest * 2n === unit && tenths % 2n === 1n)) tenths += 1n;
    return `${tenths / 10n}.${tenths % 10n} ${name}`;
  }
  return `${bytes} B`;
}

/** Go's errors.NewAggregate message: the one error's, or `[e1, e2]` without repeats. */
const aggregate = (messages: readonly string[]): string => (messages.length === 1 ? messages[0]! : `[${[...new Set(messages)].join(', ')}]`);

/**
 * The kubelet's image garbage collection (realImageGCManager), one per node:
 *
 * - detection (every period, and before each collection): every image the runtime
 *   lists gets a record, first detected now when new; an image any of the node's
 *   containers was created from (running or not: a dead container keeps its image) is
 *   in use, its last use now; an image gone is forgotten;
 * - collection (every period): with --image-maximum-gc-age, an unused image unused
 *   for longer is removed first; then when the image filesystem is at or above the
 *   high threshold, unused and unpinned images are removed least recently used first
 *   (then first detected first), each at least --image-minimum-gc-age old, until the
 *   bytes needed to reach the low threshold are freed — short of that, a
 *   FreeDiskSpaceFailed Event and the collection fails; a second failure in a row
 *   records ImageGCFailed;
 * - deleteUnusedImages: the eviction manager's reclaim under disk pressure, the same
 *   removal with no byte goal.
 *
 * Which images are the node's is runtime-executor's answer (Image.pinned): the pause
 * image and any image with a name the node did not pull are pinned, so a Docker engine
 * shared with others loses only what this node brought.
 */
export class ImageGC {
  private readonly records = new Map<string, ImageRecord>();
  private prevFailed = false;

  constructor(
    private readonly runtime: ImageGcRuntime,
    private readonly clock: Clock,
    private readonly logger: Logger,
    private readonly nodeName: string,
    private readonly nodeWarning: NodeWarning,
    private readonly policy: ImageGCPolicy = DEFAULT_IMAGE_GC_POLICY,
  ) {
    const errors = imageGCPolicyErrors(policy);
    if (errors.length) throw new Error(`invalid image garbage collection policy: ${errors.join('; ')}`);
  }

  /** The kubelet stubs image GC out when nothing could ever trigger it. */
  get enabled(): boolean {
    return this.policy.highThresholdPercent < 100 || this.policy.maxAgeMs > 0;
  }

  /** Detects, then collects, every periodMs (the first at once), until the signal aborts. */
  async run(signal: AbortSignal, periodMs = DEFAULT_IMAGE_GC_PERIOD_MS): Promise<void> {
    if (!this.enabled) {
      // Images are still detected (the kubelet's Start): the eviction manager's reclaim needs their ages.
      this.logger.info('image garbage collection is off: its high threshold is 100 and it has no maximum age');
      while (!signal.aborted) {
        await this.detectImages(this.clock.now()).catch((err: unknown) => this.logger.info({ err: (err as Error).message }, 'failed to monitor images'));
        await this.clock.sleep(periodMs, signal).catch(() => undefined);
      }
      return;
    }
    const beganGC = this.clock.now();
    while (!signal.aborted) {
      await this.garbageCollect(beganGC).then(
        () => {
          if (this.prevFailed) this.logger.info('image garbage collection succeeded');
          this.prevFailed = false;
        },
        (err: unknown) => {
          const message = (err as Error).message;
          if (this.prevFailed) {
            this.logger.error({ err: message }, 'image garbage collection failed multiple times in a row');
            // Only a repeated failure is an Event (the first may be stats not being ready yet).
            this.nodeWarning('ImageGCFailed', message);
          } else this.logger.warn({ err: message }, 'image garbage collection failed once');
          this.prevFailed = true;
        },
      );
      await this.clock.sleep(periodMs, signal).catch(() => undefined);
    }
  }

  /** One collection (GarbageCollect), in a span of its own. */
  garbageCollect(beganGC: number): Promise<{ freedBytes: bigint; removed: number }> {
    return this.traced('pod-sync image gc', async (span) => {
      const freeTime = this.clock.now();
      let images = await this.imagesInEvictionOrder(freeTime);
      let removed = 0;
      let freedBytes = 0n;
      images = await this.freeOldImages(images, freeTime, beganGC, (size) => ((removed += 1), (freedBytes += size)));
      const [fs] = (await this.runtime.imageFsInfo({})).imageFilesystems;
      if (!fs) throw new Error('no image filesystem stats');
      const capacity = fs.capacityBytes;
      let available = fs.availableBytes;
      if (available > capacity) {
        this.logger.info({ available: String(available), capacity: String(capacity) }, 'availability is larger than capacity');
        available = capacity;
      }
      if (capacity === 0n) {
        const message = 'invalid capacity 0 on image filesystem';
        this.nodeWarning('InvalidDiskCapacity', message);
        throw new Error(message);
      }
      // Integer percents, as the kubelet's int arithmetic.
      const usagePercent = 100 - Number((available * 100n) / capacity);
      span.setAttribute('splitlet.gc.image_fs_usage_percent', usagePercent);
      if (usagePercent >= this.policy.highThresholdPercent) {
        const amountToFree = (capacity * BigInt(100 - this.policy.lowThresholdPercent)) / 100n - available;
        this.logger.info(
          { usage: usagePercent, highThreshold: this.policy.highThresholdPercent, amountToFree: String(amountToFree), lowThreshold: this.policy.lowThresholdPercent },
          'disk usage on image filesystem is over the high threshold, trying to free bytes down to the low threshold',
        );
        const freed = await this.freeSpace(amountToFree, freeTime, images, () => (removed += 1));
        freedBytes += freed;
        span.setAttribute('splitlet.gc.images_removed', removed);
        if (freed < amountToFree) {
          const message =
            `Insufficient free disk space on the node's image filesystem (${usagePercent}% of ${formatSize(capacity)} used). ` +
            `Failed to free sufficient space by deleting unused images (freed ${freed} bytes). ` +
            'Investigate disk usage, as it could be used by active images, logs, volumes, or other data.';
          this.nodeWarning('FreeDiskSpaceFailed', message);
          throw new Error(message);
        }
      }
      span.setAttribute('splitlet.gc.images_removed', removed);
      return { freedBytes, removed };
    });
  }

  /** DeleteUnusedImages: every unused, unpinned image old enough, least recently used first; the bytes freed. */
  deleteUnusedImages(): Promise<bigint> {
    return this.traced('pod-sync delete unused images', async (span) => {
      this.logger.info('attempting to delete unused images');
      const freeTime = this.clock.now();
      let removed = 0;
      const freed = await this.freeSpace(2n ** 63n - 1n, freeTime, await this.imagesInEvictionOrder(freeTime), () => (removed += 1));
      span.setAttribute('splitlet.gc.images_removed', removed);
      return freed;
    });
  }

  /** detectImages: refreshes the records; answers the IDs of the images in use. */
  async detectImages(detectTime: number): Promise<Set<string>> {
    const { images } = await this.runtime.listImages({});
    const { containers } = await this.runtime.listContainers({});
    const inUse = new Set(containers.map((c) => c.imageId).filter(Boolean));
    const now = this.clock.now();
    const current = new Set<string>();
    for (const image of images) {
      current.add(image.id);
      let record = this.records.get(image.id);
      if (!record) {
        record = { firstDetected: detectTime, lastUsed: 0, size: 0n, pinned: false };
        this.records.set(image.id, record);
      }
      if (inUse.has(image.id)) record.lastUsed = now;
      record.size = image.size;
      record.pinned = image.pinned;
    }
    for (const id of this.records.keys()) if (!current.has(id)) this.records.delete(id);
    return inUse;
  }

  /** The images that may be removed, least recently used first (then first detected first). */
  private async imagesInEvictionOrder(freeTime: number): Promise<EvictionInfo[]> {
    const inUse = await this.detectImages(freeTime);
    const out: EvictionInfo[] = [];
    for (const [id, record] of this.records) if (!inUse.has(id) && !record.pinned) out.push({ id, ...record });
    return out.sort((a, b) => (a.lastUsed === b.lastUsed ? a.firstDetected - b.firstDetected : a.lastUsed - b.lastUsed));
  }

  /** freeOldImages: with a maximum age, once that long since the collector began, images unused for longer go. */
  private async freeOldImages(images: EvictionInfo[], freeTime: number, beganGC: number, onFreed: (size: bigint) => void): Promise<EvictionInfo[]> {
    const { maxAgeMs } = this.policy;
    if (maxAgeMs === 0 || freeTime - beganGC <= maxAgeMs) return images;
    const errors: string[] = [];
    const remaining: EvictionInfo[] = [];
    for (const image of images) {
      if (freeTime - image.lastUsed > maxAgeMs) {
        try {
          await this.freeImage(image);
          onFreed(image.size);
          continue;
        } catch (err) {
          errors.push((err as Error).message);
        }
      }
      remaining.push(image);
    }
    if (errors.length) throw new Error(`wanted to free images older than ${maxAgeMs}ms, encountered errors in image deletion: ${aggregate(errors)}`);
    return remaining;
  }

  /** freeSpace: removes eligible images in order until bytesToFree are freed; the bytes freed (an error when a removal failed). */
  private async freeSpace(bytesToFree: bigint, freeTime: number, images: readonly EvictionInfo[], onRemoved: () => void): Promise<bigint> {
    const errors: string[] = [];
    let freed = 0n;
    for (const image of images) {
      // In use since the list: given a newer last use.
      if (image.lastUsed >= freeTime) continue;
      // Maybe just pulled for a container about to start.
      if (freeTime - image.firstDetected < this.policy.minAgeMs) continue;
      try {
        await this.freeImage(image);
      } catch (err) {
        errors.push((err as Error).message);
        continue;
      }
      onRemoved();
      freed += image.size;
      if (freed >= bytesToFree) break;
    }
    if (errors.length) throw new Error(`wanted to free ${bytesToFree} bytes, but freed ${freed} bytes space with errors in image deletion: ${aggregate(errors)}`);
    return freed;
  }

  private async freeImage(image: EvictionInfo): Promise<void> {
    this.logger.info({ imageID: image.id, size: String(image.size) }, 'removing image to free bytes');
    await this.runtime.removeImage({ image: { image: image.id } });
    this.records.delete(image.id);
  }

  private traced<T>(name: string, fn: (span: Span) => Promise<T>): Promise<T> {
    return tracer.startActiveSpan(name, { kind: SpanKind.INTERNAL, root: true, attributes: { [ATTR.nodeName]: this.nodeName } }, async (span) => {
      try {
        return await fn(span);
      } catch (err) {
        span.setStatus({ code: SpanStatusCode.ERROR, message: (err as Error).message });
        throw err;
      } finally {
        span.end();
      }
    });
  }
}
