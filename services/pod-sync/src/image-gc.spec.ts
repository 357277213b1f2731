import { describe, expect, it } from 'vitest';
import { create } from '@bufbuild/protobuf';
import { ContainerState, ContainerStatusSchema, FilesystemUsageSchema, ImageSchema, type ContainerStatus, type Image } from '@splitlet/contracts';
import { createLogger } from '@splitlet/telemetry';
import { FakeClock } from '@splitlet/testing';
import { DEFAULT_IMAGE_GC_POLICY, formatSize, ImageGC, imageGCPolicyErrors, type ImageGCPolicy, type ImageGcRuntime } from './image-gc';

// Cases after the kubelet's image_gc_manager_test.go (pkg/kubelet/images, v1.36),
// against a fake runtime behind the same RPC interface. The kubelet's helper
// getImagesAndFreeSpace (imagesInEvictionOrder + freeSpace) is played through
// GarbageCollect with the image filesystem set exactly the bytes to free short of
// the low threshold; StartGarbageCollection's loop (pkg/kubelet/kubelet.go) is run().

const { RUNNING, EXITED } = ContainerState;
const MINUTE_MS = 60_000;
const KiB = 1024n;
const MiB = 1024n * KiB;
const GiB = 1024n * MiB;
const TiB = 1024n * GiB;

/** Every test's policy where the kubelet's uses ImageGCPolicy{} (low == high is no valid policy here). */
const POLICY: ImageGCPolicy = { highThresholdPercent: 90, lowThresholdPercent: 80, minAgeMs: 0, maxAgeMs: 0 };

/** The kubelet test's imageID(i). */
const imageID = (i: number) => `image-${i}`;

/** The kubelet test's makeImage: an image named after its ID. */
const makeImage = (i: number | string, size: number | bigint, pinned = false): Image =>
  create(ImageSchema, {
    id: typeof i === 'number' ? imageID(i) : i,
    repoTags: typeof i === 'number' ? [`${imageID(i)}-name:latest`] : [],
    size: BigInt(size),
    pinned,
  });

/** The kubelet test's makeContainer: a container of the image with the same number. */
const makeContainer = (i: number, state: ContainerState = RUNNING, image = `${imageID(i)}-name:latest`): ContainerStatus =>
  create(ContainerStatusSchema, { id: `container-${i}`, metadata: { name: `c${i}`, attempt: 0 }, state, image, imageId: imageID(i), podSandboxId: 'sb' });

/** The runtime as runtime-executor answers it: what is listed is what was not removed. */
class FakeImageRuntime {
  images: Image[] = [];
  containers: ContainerStatus[] = [];
  /** 40% used: below any threshold the tests use. */
  fs = { capacityBytes: 1000n, availableBytes: 600n };
  fsError: Error | undefined;
  readonly failRemove = new Set<string>();

  listImages = async () => ({ images: [...this.images] });
  listContainers = async () => ({ containers: [...this.containers] });
  imageFsInfo = async () => {
    if (this.fsError) throw this.fsError;
    return { imageFilesystems: [create(FilesystemUsageSchema, { mountpoint: '/var/lib/docker', usedBytes: this.fs.capacityBytes - this.fs.availableBytes, ...this.fs })] };
  };
  removeImage = async ({ image }: { image?: { image: string } }) => {
    const id = image?.image ?? '';
    if (this.failRemove.has(id)) throw new Error(`cannot remove ${id}`);
    this.images = this.images.filter((i) => i.id !== id);
  };

  ids = () => this.images.map((i) => i.id).sort();
}

interface LogLine {
  level: string;
  msg: string;
  err?: string;
}

function setup(policy: ImageGCPolicy = POLICY) {
  const rt = new FakeImageRuntime();
  const clock = new FakeClock();
  const warnings: [string, string][] = [];
  const logs: LogLine[] = [];
  const logger = createLogger('pod-sync-test', { level: 'debug', destination: { write: (line: string) => void logs.push(JSON.parse(line) as LogLine) } });
  const gc = new ImageGC(rt as unknown as ImageGcRuntime, clock, logger, 'node-a', (reason, message) => void warnings.push([reason, message]), policy);
  return { rt, clock, gc, warnings, logs };
}

type Env = ReturnType<typeof setup>;

/** The collector's image records, as the kubelet test's getImageRecord reads them. */
const records = (gc: ImageGC) => (gc as unknown as { records: Map<string, { firstDetected: number; lastUsed: number; size: bigint; pinned: boolean }> }).records;

/**
 * The kubelet test's getImagesAndFreeSpace(bytesToFree): one collection now, the image
 * filesystem at the high threshold (90% of 10·bytesToFree used) and bytesToFree short
 * of the low one. Answers the bytes the images removed from the runtime held, and the
 * collection's error (not freeing enough is one, in GarbageCollect).
 */
async function collectFreeing(env: Env, bytesToFree: bigint): Promise<{ freed: bigint; error?: string }> {
  env.rt.fs = { capacityBytes: 10n * bytesToFree, availableBytes: bytesToFree };
  const before = [...env.rt.images];
  let error: string | undefined;
  let reported: bigint | undefined;
  try {
    reported = (await env.gc.garbageCollect(env.clock.now())).freedBytes;
  } catch (err) {
    error = (err as Error).message;
  }
  const freed = before.filter((i) => !env.rt.images.some((r) => r.id === i.id)).reduce((sum, i) => sum + i.size, 0n);
  if (reported !== undefined) expect(reported).toBe(freed);
  return { freed, ...(error === undefined ? {} : { error }) };
}

const notEnoughFreed = (usage: number, capacity: string, freed: bigint) =>
  `Insufficient free disk space on the node's image filesystem (${usage}% of ${capacity} used). ` +
  `Failed to free sufficient space by deleting unused images (freed ${freed} bytes). ` +
  'Investigate disk usage, as it could be used by active images, logs, volumes, or other data.';

describe('ImageGC', () => {
  describe('detectImages', () => {
    it('image gc - initial detect: every image gets a record first detected then; those a container uses (named or not) are last used now', async () => {
      const env = setup();
      env.rt.images = [makeImage(0, 1024), makeImage(1, 2048), makeImage(2, 2048)];
      // container-1 has no image name: a no-name image.
      env.rt.containers = [makeContainer(1, RUNNING, ''), makeContainer(2)];
      const now = env.clock.now();

      const inUse = await env.gc.detectImages(0);

      expect([...inUse].sort()).toEqual([imageID(1), imageID(2)]);
      const r = records(env.gc);
      expect(r.size).toBe(3);
      expect(r.get(imageID(0))).toMatchObject({ firstDetected: 0, lastUsed: 0, size: 1024n });
      expect(r.get(imageID(1))).toMatchObject({ firstDetected: 0, lastUsed: now, size: 2048n });
      expect(r.get(imageID(2))).toMatchObject({ firstDetected: 0, lastUsed: now, size: 2048n });
    });

    it('image gc - a new image is first detected at its detection; the known ones keep theirs, with their size as now listed', async () => {
      const env = setup();
      env.rt.images = [makeImage(0, 1024), makeImage(1, 2048)];
      env.rt.containers = [makeContainer(1)];
      await env.gc.detectImages(0);
      expect(records(env.gc).size).toBe(2);

      env.rt.images = [makeImage(0, 1024), makeImage(1, 1024), makeImage(2, 1024)];
      await env.clock.advance(1000);
      const detected = 1000;
      await env.gc.detectImages(detected);

      const r = records(env.gc);
      expect(r.size).toBe(3);
      expect(r.get(imageID(0))).toMatchObject({ firstDetected: 0, lastUsed: 0 });
      expect(r.get(imageID(1))).toMatchObject({ firstDetected: 0, lastUsed: env.clock.now(), size: 1024n });
      expect(r.get(imageID(2))).toMatchObject({ firstDetected: detected, lastUsed: 0 });
    });

    it('image gc - a container gone keeps its image last used when it was last seen', async () => {
      const env = setup();
      env.rt.images = [makeImage(0, 1024), makeImage(1, 2048)];
      env.rt.containers = [makeContainer(1)];
      await env.gc.detectImages(0);
      const lastSeen = env.clock.now();

      env.rt.containers = [];
      await env.clock.advance(10_000);
      await env.gc.detectImages(env.clock.now());

      const r = records(env.gc);
      expect(r.size).toBe(2);
      expect(r.get(imageID(0))).toMatchObject({ firstDetected: 0, lastUsed: 0 });
      expect(r.get(imageID(1))).toMatchObject({ firstDetected: 0, lastUsed: lastSeen });
    });

    it('image gc - a stopped (exited) container still uses its image: last used now, and never removed', async () => {
      // The kubelet lists the runtime's pods with all=true: exited containers count.
      const env = setup();
      env.rt.images = [makeImage(0, 1024), makeImage(1, 2048)];
      env.rt.containers = [makeContainer(1, EXITED)];
      await env.clock.advance(10_000);

      expect([...(await env.gc.detectImages(0))]).toEqual([imageID(1)]);
      expect(records(env.gc).get(imageID(1))).toMatchObject({ lastUsed: env.clock.now() });

      await env.clock.advance(MINUTE_MS);
      expect(await env.gc.deleteUnusedImages()).toBe(1024n);
      expect(env.rt.ids()).toEqual([imageID(1)]);
    });

    it('image gc - images removed from the runtime are forgotten', async () => {
      const env = setup();
      env.rt.images = [makeImage(0, 1024), makeImage(1, 2048)];
      env.rt.containers = [makeContainer(1)];
      await env.gc.detectImages(0);
      expect(records(env.gc).size).toBe(2);

      env.rt.images = [];
      await env.gc.detectImages(env.clock.now());
      expect(records(env.gc).size).toBe(0);
    });
  });

  describe('freeing space', () => {
    it('image gc - images in use by containers are ignored', async () => {
      const env = setup();
      env.rt.images = [makeImage(0, 1024), makeImage(1, 2048)];
      env.rt.containers = [makeContainer(1)];

      const { freed } = await collectFreeing(env, 2048n);

      expect(freed).toBe(1024n);
      expect(env.rt.ids()).toEqual([imageID(1)]);
    });

    it('image gc - the least recently used image is removed first', async () => {
      const env = setup();
      env.rt.images = [makeImage(0, 1024), makeImage(1, 2048)];
      env.rt.containers = [makeContainer(0), makeContainer(1)];
      // Make 1 be more recently used than 0.
      await env.gc.detectImages(0);
      await env.clock.advance(1000);
      env.rt.containers = [makeContainer(1)];
      await env.gc.detectImages(env.clock.now());
      await env.clock.advance(1000);
      env.rt.containers = [];
      await env.gc.detectImages(env.clock.now());
      expect(records(env.gc).size).toBe(2);

      // The delete time a minute later, so first detection and deletion differ.
      await env.clock.advance(MINUTE_MS);
      const result = await collectFreeing(env, 1024n);

      expect(result).toEqual({ freed: 1024n });
      expect(env.rt.ids()).toEqual([imageID(1)]);
      expect(env.warnings).toEqual([]);
    });

    it('image gc - an image never used goes before one used, whichever was detected first (the kubelet TestFreeSpaceTiesBrokenByDetectedTime)', async () => {
      const env = setup();
      env.rt.images = [makeImage(0, 1024)];
      env.rt.containers = [makeContainer(0)];
      await env.gc.detectImages(0);
      // 1 detected later; 0 used again meanwhile.
      env.rt.images = [makeImage(0, 1024), makeImage(1, 2048)];
      await env.clock.advance(1000);
      await env.gc.detectImages(env.clock.now());
      env.rt.containers = [];
      await env.gc.detectImages(env.clock.now());
      expect(records(env.gc).size).toBe(2);

      const result = await collectFreeing(env, 1024n);

      expect(result).toEqual({ freed: 2048n });
      expect(env.rt.ids()).toEqual([imageID(0)]);
    });

    it('image gc - ties in last use are broken by first detection, the earliest first', async () => {
      const env = setup();
      env.rt.containers = [makeContainer(0), makeContainer(1)];
      // 1 detected first, 0 a second later; both last used at the same moment.
      env.rt.images = [makeImage(1, 1024)];
      await env.gc.detectImages(env.clock.now());
      await env.clock.advance(1000);
      env.rt.images = [makeImage(0, 2048), makeImage(1, 1024)];
      await env.gc.detectImages(env.clock.now());
      env.rt.containers = [];
      await env.clock.advance(1000);

      const result = await collectFreeing(env, 1024n);

      expect(result).toEqual({ freed: 1024n });
      expect(env.rt.ids()).toEqual([imageID(0)]);
    });

    it('image gc - a removal that fails does not stop the others; the collection fails without a FreeDiskSpaceFailed Event', async () => {
      const env = setup();
      env.rt.images = [makeImage(0, 1024), makeImage(1, 2048)];
      env.rt.failRemove.add(imageID(0));

      const { freed, error } = await collectFreeing(env, 4096n);

      expect(freed).toBe(2048n);
      expect(env.rt.ids()).toEqual([imageID(0)]);
      expect(error).toBe(`wanted to free 4096 bytes, but freed 2048 bytes space with errors in image deletion: cannot remove ${imageID(0)}`);
      expect(env.warnings).toEqual([]);
    });
  });

  describe('pinned images', () => {
    it('image gc - a pinned image is never removed, even short of the bytes to free', async () => {
      const env = setup();
      env.rt.images = [makeImage('1', 1024, true), makeImage('2', 1024)];

      const { freed, error } = await collectFreeing(env, 4096n);

      expect(freed).toBe(1024n);
      expect(env.rt.ids()).toEqual(['1']);
      expect(error).toBe(notEnoughFreed(90, '40.0 KiB', 1024n));
    });

    it('image gc - unpinned images are removed', async () => {
      const env = setup();
      env.rt.images = [makeImage('1', 1024, false), makeImage('2', 1024)];

      expect(await collectFreeing(env, 2048n)).toEqual({ freed: 2048n });
      expect(env.rt.ids()).toEqual([]);
    });

    it('image gc - when every image is pinned nothing is removed', async () => {
      const env = setup();
      env.rt.images = [makeImage('1', 1024, true), makeImage('2', 1024, true)];

      const { freed } = await collectFreeing(env, 2048n);

      expect(freed).toBe(0n);
      expect(env.rt.ids()).toEqual(['1', '2']);
    });

    it('image gc - deleting unused images spares the (pinned) sandbox image', async () => {
      const env = setup();
      env.rt.images = [create(ImageSchema, { id: 'registry.k8s.io/pause-amd64:latest', size: 1024n, pinned: true })];

      expect(await env.gc.deleteUnusedImages()).toBe(0n);
      expect(env.rt.images).toHaveLength(1);
    });
  });

  describe('deleteUnusedImages', () => {
    it('image gc - deleting unused images removes every image no container uses', async () => {
      const env = setup();
      env.rt.images = [makeImage(0, 1024), makeImage(1, 2048), makeImage(2, 2048)];
      env.rt.containers = [makeContainer(2)];

      expect(await env.gc.deleteUnusedImages()).toBe(3072n);
      expect(env.rt.ids()).toEqual([imageID(2)]);
    });

    it('image gc - deleting unused images keeps those first detected less than the minimum age ago', async () => {
      const env = setup({ ...POLICY, minAgeMs: 3000 });
      env.rt.images = [makeImage(0, 1024), makeImage(1, 2048), makeImage(2, 2048)];
      env.rt.containers = [makeContainer(2)];
      await env.gc.detectImages(env.clock.now());

      expect(await env.gc.deleteUnusedImages()).toBe(0n);
      expect(env.rt.images).toHaveLength(3);

      await env.clock.advance(3000);
      expect(await env.gc.deleteUnusedImages()).toBe(3072n);
      expect(env.rt.ids()).toEqual([imageID(2)]);
    });
  });

  describe('GarbageCollect', () => {
    it('image gc - below the high threshold nothing is removed', async () => {
      const env = setup();
      env.rt.images = [makeImage(0, 1024)];
      // 40% used.
      env.rt.fs = { capacityBytes: 1000n, availableBytes: 600n };

      expect(await env.gc.garbageCollect(env.clock.now())).toEqual({ freedBytes: 0n, removed: 0 });
      expect(env.rt.ids()).toEqual([imageID(0)]);
      expect(env.warnings).toEqual([]);
    });

    it('image gc - no image filesystem stats: the collection fails', async () => {
      const env = setup();
      env.rt.fsError = new Error('error');
      await expect(env.gc.garbageCollect(env.clock.now())).rejects.toThrow('error');
    });

    it('image gc - over the high threshold, images are removed down to the low threshold', async () => {
      const env = setup();
      // 95% used: 150 bytes to free for 80%.
      env.rt.fs = { capacityBytes: 1000n, availableBytes: 50n };
      env.rt.images = [makeImage(0, 450)];

      expect(await env.gc.garbageCollect(env.clock.now())).toEqual({ freedBytes: 450n, removed: 1 });
      expect(env.rt.ids()).toEqual([]);
      expect(env.warnings).toEqual([]);
    });

    it('image gc - removal stops once the bytes to the low threshold are freed', async () => {
      const env = setup();
      env.rt.fs = { capacityBytes: 1000n, availableBytes: 50n };
      // Detected in order 2, 1, 0 (never used): removed in that order.
      env.rt.images = [makeImage(2, 100)];
      await env.gc.detectImages(env.clock.now());
      await env.clock.advance(1000);
      env.rt.images = [makeImage(1, 100), makeImage(2, 100)];
      await env.gc.detectImages(env.clock.now());
      await env.clock.advance(1000);
      env.rt.images = [makeImage(0, 100), makeImage(1, 100), makeImage(2, 100)];

      // 150 bytes to free: two images.
      expect(await env.gc.garbageCollect(env.clock.now())).toEqual({ freedBytes: 200n, removed: 2 });
      expect(env.rt.ids()).toEqual([imageID(0)]);
    });

    it('image gc - not enough freed: the collection fails with a FreeDiskSpaceFailed Event, the kubelet\'s message', async () => {
      const env = setup();
      // 95% used, of which 5% is garbage images.
      const capacity = 10n * GiB;
      env.rt.fs = { capacityBytes: capacity, availableBytes: capacity / 20n };
      env.rt.images = [makeImage(0, 500n * MiB)];

      const message =
        "Insufficient free disk space on the node's image filesystem (95% of 10.0 GiB used). Failed to free sufficient space by deleting unused images (freed 524288000 bytes)." +
        ' Investigate disk usage, as it could be used by active images, logs, volumes, or other data.';
      await expect(env.gc.garbageCollect(env.clock.now())).rejects.toThrow(message);
      expect(env.warnings).toEqual([['FreeDiskSpaceFailed', message]]);
      expect(env.rt.ids()).toEqual([]);
    });

    it('image gc - an image first detected less than the minimum age ago is kept', async () => {
      const env = setup({ ...POLICY, minAgeMs: MINUTE_MS });
      env.rt.images = [makeImage(0, 1024), makeImage(1, 2048)];
      // 1 in use, 0 not old enough.
      env.rt.containers = [makeContainer(1)];
      await env.gc.detectImages(env.clock.now());
      expect(records(env.gc).size).toBe(2);

      const first = await collectFreeing(env, 1024n);
      expect(first.freed).toBe(0n);
      expect(env.rt.images).toHaveLength(2);

      await env.clock.advance(MINUTE_MS);
      expect(await collectFreeing(env, 1024n)).toEqual({ freed: 1024n });
      expect(env.rt.ids()).toEqual([imageID(1)]);
    });

    it('image gc - with a maximum age, an unused image unused for longer is removed whatever the disk, once that long since collection began', async () => {
      const env = setup({ ...POLICY, maxAgeMs: MINUTE_MS });
      env.rt.images = [makeImage(0, 1024), makeImage(1, 2048)];
      // 0 just used, then its container gone; 1 in use throughout.
      env.rt.containers = [makeContainer(0), makeContainer(1)];
      const beganGC = env.clock.now();
      expect(await env.gc.garbageCollect(beganGC)).toEqual({ freedBytes: 0n, removed: 0 });
      env.rt.containers = [makeContainer(1)];

      // First round: used too recently.
      expect(await env.gc.garbageCollect(beganGC)).toEqual({ freedBytes: 0n, removed: 0 });
      expect(env.rt.images).toHaveLength(2);

      await env.clock.advance(MINUTE_MS + 1);
      expect(await env.gc.garbageCollect(beganGC)).toEqual({ freedBytes: 1024n, removed: 1 });
      expect(env.rt.ids()).toEqual([imageID(1)]);
    });

    it('image gc - with a maximum age, nothing is removed for age until the maximum age since collection began has passed', async () => {
      const env = setup({ ...POLICY, maxAgeMs: MINUTE_MS });
      // Never used: unused since forever.
      env.rt.images = [makeImage(0, 1024)];
      const beganGC = env.clock.now();

      await env.clock.advance(MINUTE_MS);
      expect(await env.gc.garbageCollect(beganGC)).toEqual({ freedBytes: 0n, removed: 0 });
      expect(env.rt.images).toHaveLength(1);

      await env.clock.advance(1);
      expect(await env.gc.garbageCollect(beganGC)).toEqual({ freedBytes: 1024n, removed: 1 });
      expect(env.rt.images).toHaveLength(0);
    });

    it('image gc - with no maximum age, nothing is removed for age however long', async () => {
      const env = setup({ ...POLICY, maxAgeMs: 0 });
      env.rt.images = [makeImage(0, 1024), makeImage(1, 2048)];
      env.rt.containers = [makeContainer(1)];
      const beganGC = env.clock.now();
      await env.gc.garbageCollect(beganGC);
      expect(env.rt.images).toHaveLength(2);

      await env.clock.advance(100 * 365 * 24 * 3_600_000);
      expect(await env.gc.garbageCollect(beganGC)).toEqual({ freedBytes: 0n, removed: 0 });
      expect(env.rt.images).toHaveLength(2);
    });

    it('image gc - an image filesystem of capacity 0 fails the collection with an InvalidDiskCapacity Event', async () => {
      const env = setup();
      env.rt.fs = { capacityBytes: 0n, availableBytes: 0n };
      env.rt.images = [makeImage(0, 1024)];

      await expect(env.gc.garbageCollect(env.clock.now())).rejects.toThrow('invalid capacity 0 on image filesystem');
      expect(env.warnings).toEqual([['InvalidDiskCapacity', 'invalid capacity 0 on image filesystem']]);
      expect(env.rt.images).toHaveLength(1);
    });

    it('image gc - available bytes over the capacity count as the capacity: nothing used', async () => {
      const env = setup();
      env.rt.fs = { capacityBytes: 1000n, availableBytes: 5000n };
      env.rt.images = [makeImage(0, 1024)];

      expect(await env.gc.garbageCollect(env.clock.now())).toEqual({ freedBytes: 0n, removed: 0 });
      expect(env.rt.images).toHaveLength(1);
    });

    it('image gc - usage is the kubelet\'s integer percent: 89.9% used is 90%, at the high threshold', async () => {
      const env = setup();
      // 100 - floor(101·100/1000) = 90; to free: 1000·20/100 - 101 = 99.
      env.rt.fs = { capacityBytes: 1000n, availableBytes: 101n };
      env.rt.images = [makeImage(0, 99), makeImage(1, 99)];

      expect(await env.gc.garbageCollect(env.clock.now())).toEqual({ freedBytes: 99n, removed: 1 });
      expect(env.rt.images).toHaveLength(1);
    });
  });

  describe('run', () => {
    it('image gc - a first failure is only logged; a second in a row records ImageGCFailed; a success starts over', async () => {
      const env = setup();
      env.rt.fsError = new Error('stats not ready');
      const ac = new AbortController();
      const done = env.gc.run(ac.signal, 1000);
      await env.clock.settle();

      expect(env.warnings).toEqual([]);
      expect(env.logs.some((l) => l.err === 'stats not ready')).toBe(true);

      await env.clock.advance(1000);
      expect(env.warnings).toEqual([['ImageGCFailed', 'stats not ready']]);

      env.rt.fsError = undefined;
      await env.clock.advance(1000);
      env.rt.fsError = new Error('stats gone');
      await env.clock.advance(1000);
      expect(env.warnings).toEqual([['ImageGCFailed', 'stats not ready']]);
      expect(env.logs.some((l) => l.err === 'stats gone')).toBe(true);

      await env.clock.advance(1000);
      expect(env.warnings).toEqual([
        ['ImageGCFailed', 'stats not ready'],
        ['ImageGCFailed', 'stats gone'],
      ]);

      ac.abort();
      await done;
    });

    it('image gc - a collection short of space fails each time with FreeDiskSpaceFailed, and from the second with ImageGCFailed too', async () => {
      const env = setup();
      const capacity = 10n * GiB;
      env.rt.fs = { capacityBytes: capacity, availableBytes: capacity / 20n };
      const message = notEnoughFreed(95, '10.0 GiB', 0n);
      const ac = new AbortController();
      const done = env.gc.run(ac.signal, 1000);
      await env.clock.settle();
      expect(env.warnings).toEqual([['FreeDiskSpaceFailed', message]]);

      await env.clock.advance(1000);
      expect(env.warnings).toEqual([
        ['FreeDiskSpaceFailed', message],
        ['FreeDiskSpaceFailed', message],
        ['ImageGCFailed', message],
      ]);
      ac.abort();
      await done;
    });

    it('image gc - run collects every period, its maximum age counted from when it began', async () => {
      const env = setup({ ...POLICY, maxAgeMs: MINUTE_MS });
      env.rt.images = [makeImage(0, 1024)];
      const ac = new AbortController();
      const done = env.gc.run(ac.signal, 1000);
      await env.clock.settle();

      await env.clock.advance(MINUTE_MS);
      expect(env.rt.images).toHaveLength(1);
      await env.clock.advance(1000);
      expect(env.rt.images).toHaveLength(0);
      expect(env.warnings).toEqual([]);

      ac.abort();
      await done;
    });

    it('image gc - a high threshold of 100 with no maximum age turns collection off; images are still detected, so the eviction manager\'s reclaim knows their ages', async () => {
      const env = setup({ highThresholdPercent: 100, lowThresholdPercent: 80, minAgeMs: 5_000, maxAgeMs: 0 });
      expect(env.gc.enabled).toBe(false);
      // Full: any collection would remove it.
      env.rt.fs = { capacityBytes: 1000n, availableBytes: 0n };
      env.rt.images = [makeImage(0, 1024)];
      const ac = new AbortController();

      const done = env.gc.run(ac.signal, 1000);
      await env.clock.advance(10_000);

      expect(env.rt.images).toHaveLength(1);
      expect(env.warnings).toEqual([]);
      // Detected 10 s ago, past the minimum age: the reclaim may take it.
      expect(await env.gc.deleteUnusedImages()).toBe(1024n);
      expect(env.rt.images).toHaveLength(0);
      ac.abort();
      await done;
    });

    it('image gc - a high threshold of 100 with a maximum age still collects', async () => {
      const env = setup({ highThresholdPercent: 100, lowThresholdPercent: 80, minAgeMs: 0, maxAgeMs: MINUTE_MS });
      expect(env.gc.enabled).toBe(true);
      expect(setup(DEFAULT_IMAGE_GC_POLICY).gc.enabled).toBe(true);
      env.rt.images = [makeImage(0, 1024)];
      const ac = new AbortController();
      const done = env.gc.run(ac.signal, 1000);
      await env.clock.settle();

      await env.clock.advance(MINUTE_MS + 1000);
      expect(env.rt.images).toHaveLength(0);

      ac.abort();
      await done;
    });
  });

  describe('policy', () => {
    const p = (over: Partial<ImageGCPolicy>): ImageGCPolicy => ({ highThresholdPercent: 0, lowThresholdPercent: 0, minAgeMs: 0, maxAgeMs: 0, ...over });
    const highRange = (v: number) => `imageGCHighThresholdPercent (--image-gc-high-threshold) ${v} must be between 0 and 100, inclusive`;
    const lowRange = (v: number) => `imageGCLowThresholdPercent (--image-gc-low-threshold) ${v} must be between 0 and 100, inclusive`;
    const lowBelowHigh = (low: number, high: number) => `imageGCLowThresholdPercent (--image-gc-low-threshold) ${low} must be less than imageGCHighThresholdPercent (--image-gc-high-threshold) ${high}`;
    const cases: { name: string; policy: ImageGCPolicy; errors: string[] }[] = [
      { name: 'low < high', policy: p({ highThresholdPercent: 2, lowThresholdPercent: 1 }), errors: [] },
      { name: 'the defaults', policy: DEFAULT_IMAGE_GC_POLICY, errors: [] },
      { name: 'high < 0', policy: p({ highThresholdPercent: -1 }), errors: [highRange(-1), lowBelowHigh(0, -1)] },
      { name: 'high > 100', policy: p({ highThresholdPercent: 101 }), errors: [highRange(101)] },
      { name: 'low < 0', policy: p({ highThresholdPercent: 85, lowThresholdPercent: -1 }), errors: [lowRange(-1)] },
      { name: 'low > 100', policy: p({ highThresholdPercent: 85, lowThresholdPercent: 101 }), errors: [lowRange(101), lowBelowHigh(101, 85)] },
      { name: 'low > high', policy: p({ highThresholdPercent: 1, lowThresholdPercent: 2 }), errors: [lowBelowHigh(2, 1)] },
      { name: 'low == high', policy: p({ highThresholdPercent: 80, lowThresholdPercent: 80 }), errors: [lowBelowHigh(80, 80)] },
      { name: 'high 100', policy: p({ highThresholdPercent: 100, lowThresholdPercent: 80 }), errors: [] },
      { name: 'negative minimum age', policy: p({ highThresholdPercent: 85, minAgeMs: -1000 }), errors: ['imageMinimumGCAge -1000ms must not be negative'] },
      { name: 'negative maximum age', policy: p({ highThresholdPercent: 85, maxAgeMs: -1 }), errors: ['imageMaximumGCAge -1ms must not be negative'] },
      {
        name: 'maximum age below the minimum',
        policy: p({ highThresholdPercent: 85, minAgeMs: 120_000, maxAgeMs: 60_000 }),
        errors: ['imageMaximumGCAge 60000ms must be greater than imageMinimumGCAge 120000ms'],
      },
      {
        name: 'maximum age equal to the minimum',
        policy: p({ highThresholdPercent: 85, minAgeMs: 60_000, maxAgeMs: 60_000 }),
        errors: ['imageMaximumGCAge 60000ms must be greater than imageMinimumGCAge 60000ms'],
      },
      { name: 'maximum age above the minimum', policy: p({ highThresholdPercent: 85, minAgeMs: 60_000, maxAgeMs: 60_001 }), errors: [] },
    ];

    it.each(cases)('image gc - policy validation: $name', ({ policy, errors }) => {
      expect(imageGCPolicyErrors(policy)).toEqual(errors);
    });

    it('image gc - an invalid policy is refused at construction, with its errors', () => {
      expect(() => setup(p({ highThresholdPercent: 1, lowThresholdPercent: 2 }))).toThrow(`invalid image garbage collection policy: ${lowBelowHigh(2, 1)}`);
    });
  });

  describe('formatSize', () => {
    it.each([
      [0n, '0 B'],
      [512n, '512 B'],
      [1023n, '1023 B'],
      [1024n, '1.0 KiB'],
      [1536n, '1.5 KiB'],
      [1792n, '1.8 KiB'],
      [MiB - 1n, '1024.0 KiB'],
      [20n * MiB, '20.0 MiB'],
      [10n * GiB, '10.0 GiB'],
      [TiB, '1.0 TiB'],
      [(3n * TiB) / 2n, '1.5 TiB'],
      [2047n * GiB, '2.0 TiB'],
    ])('image gc - formatSize(%s) is %s', (bytes, text) => {
      expect(formatSize(bytes)).toBe(text);
    });

    it('image gc - formatSize rounds an exact tie to even, as Go\'s %.1f does (1.25 KiB is "1.2 KiB")', () => {
      // strconv rounds the exact binary value half to even: fmt.Sprintf("%.1f", 1.25) == "1.2".
      expect(formatSize(1280n)).toBe('1.2 KiB');
      expect(formatSize((5n * GiB) / 4n)).toBe('1.2 GiB');
      expect(formatSize(3n * KiB + 256n)).toBe('3.2 KiB');
    });
  });
});
