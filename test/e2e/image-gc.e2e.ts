import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CoreV1Api, V1Pod } from '@kubernetes/client-node';
import { labEnv, labRegistrySecret, podTestNames, pushBlobImage, runCommand, startPodTestNode, startScratchDocker, waitFor, type ScratchDocker } from '@splitlet/testing';

// Image garbage collection as the kubelet's, on a real image filesystem that fills up:
// the node's runtime-executor drives a Docker engine of this test's own whose data root
// is a 512 MiB loop-mounted ext4 (startScratchDocker), so crossing the high threshold
// never touches the machine's disk. Three images of 64 MiB of random bytes each are
// pushed to the lab's registry and pulled by the node itself; the thresholds are set
// from the filesystem's capacity and what the empty engine uses, so that pulls never
// reach the high threshold, a filler file crosses it, and removing one image brings
// the filesystem under the low one. (A first version crossed high with the third
// pull: under load a collection ran mid-pull, while the download and the extracted
// layer were both on disk, and rightly removed two images.)
const lab = labEnv();
const names = podTestNames('e2e-imagegc');
const { nodeName, namespace } = names;
const BLOB_MIB = 64;
const FS_MIB = 512;
let core: CoreV1Api;
let scratch: ScratchDocker | undefined;
let stopNode: (() => Promise<void>) | undefined;
const repo = `${lab.registry}/${namespace}/app`;
const imageOf = (tag: string) => `${repo}:${tag}`;
let lowThreshold = 0;
let highThreshold = 0;
/** Fills the scratch filesystem (a file beside Docker's data root) until `percent` of it is in use. */
async function fillTo(percent: number, file: string): Promise<void> {
  const { capacityBytes, availableBytes } = await scratch!.usage();
  const fill = Number((capacityBytes * BigInt(percent)) / 100n - (capacityBytes - availableBytes)) / 2 ** 20;
  const r = await runCommand('fallocate', ['-l', `${Math.ceil(fill)}M`, join(scratch!.dataRoot, '..', file)]);
  if (r.code !== 0) throw new Error(`fallocate: ${r.stderr}`);
}

const podOf = (name: string, image: string): V1Pod => ({
  metadata: { name, namespace },
  spec: {
    nodeName,
    terminationGracePeriodSeconds: 1,
    imagePullSecrets: [{ name: 'regcred' }],
    containers: [{ name: 'app', image, command: ['sleep', '3600'] }],
  },
});
const read = (name: string) => core.readNamespacedPod({ namespace, name });
const running = (name: string) => waitFor(`${name} Running`, async () => ((await read(name)).status?.phase === 'Running' ? true : undefined), 90_000);
const gone = async (name: string) => {
  await core.deleteNamespacedPod({ namespace, name });
  await waitFor(`${name} deleted`, async () => ((await read(name).catch(() => undefined)) ? undefined : true), 60_000);
};
/** The scratch engine's images, as `docker images` lists them (repo:tag). */
const imagesOnNode = async () => (await scratch!.docker(['images', '--format', '{{.Repository}}:{{.Tag}}'])).stdout.split('\n').filter(Boolean).sort();

describe('image garbage collection', () => {
  beforeAll(async () => {
    await Promise.all(['a', 'b', 'c'].map((t) => pushBlobImage(imageOf(t), { mib: BLOB_MIB, seed: `image-gc ${t}` })));
    scratch = await startScratchDocker({ sizeMiB: FS_MIB, images: ['splitlet-lab/pause:1', 'splitlet-lab/testbox:1'] });
    // An image (the blob and the test box under it) is `per` percent of the filesystem.
    // Pulls alone never reach high, not even a pull's own passing peak (its download
    // and its extracted layer at once, one image more): high is crossed only by the
    // filler files the tests write, from a settled filesystem. low is 3 points below:
    // removing one image (more than those points) goes below it.
    const { usedPercent: base, capacityBytes } = await scratch.usage();
    const per = ((BLOB_MIB + 2) * 2 ** 20 * 100) / Number(capacityBytes);
    highThreshold = Math.ceil(base + 4.5 * per);
    lowThreshold = highThreshold - 3;
    ({ core, stop: stopNode } = await startPodTestNode(names, {
      env: {
        DOCKER_HOST: scratch.host,
        SPLITLET_IMAGE_GC_HIGH_THRESHOLD: String(highThreshold),
        SPLITLET_IMAGE_GC_LOW_THRESHOLD: String(lowThreshold),
        // Every image is older than this when the filler crosses high.
        SPLITLET_IMAGE_MINIMUM_GC_AGE: '10s',
        SPLITLET_IMAGE_GC_PERIOD_MS: '2000',
        SPLITLET_CONTAINER_GC_PERIOD_MS: '1000',
        // No disk eviction here: this test is image garbage collection's alone.
        SPLITLET_EVICTION_HARD: 'memory.available<1Mi',
      },
      setup: async (api) => void (await api.createNamespacedSecret({ namespace, body: labRegistrySecret('regcred') })),
    }));
  }, 240_000);
  afterAll(async () => {
    await stopNode?.();
    await scratch?.stop();
  });

  it('pod-sync - over the high threshold, unused images the node pulled are removed least recently used first until under the low threshold; images in use, the pause image and images the node did not pull stay', async () => {
    // a is pulled first and used longest; b is pulled second and its pod goes first:
    // b is the least recently used, though a was detected earlier. c runs on.
    await core.createNamespacedPod({ namespace, body: podOf('a', imageOf('a')) });
    await running('a');
    await core.createNamespacedPod({ namespace, body: podOf('b', imageOf('b')) });
    await running('b');
    const bRunningAt = Date.now();
    await gone('b');
    // A few detections see a in use and b not.
    await new Promise((r) => setTimeout(r, 5_000));
    await gone('a');
    await core.createNamespacedPod({ namespace, body: podOf('c', imageOf('c')) });
    await running('c');
    // The dead containers go with their pods (container GC): neither a's image nor b's is in use.
    await waitFor('no container left on the engine but running ones', async () => ((await scratch!.docker(['ps', '-aq', '--filter', 'status=exited'])).stdout.trim() === '' ? true : undefined), 30_000);
    expect(await imagesOnNode()).toEqual([imageOf('a'), imageOf('b'), imageOf('c'), 'splitlet-lab/pause:1', 'splitlet-lab/testbox:1'].sort());
    expect((await scratch!.usage()).usedPercent).toBeLessThan(highThreshold);
    // Past b's minimum age (first detected at most a collection period after it ran:
    // 10 s + 2 s + a margin), the filler takes the filesystem 1 point over high.
    await new Promise((r) => setTimeout(r, Math.max(0, bRunningAt + 15_000 - Date.now())));
    await fillTo(highThreshold + 1, 'filler-1');
    // RemoveImage untags, then the image goes: done once no untagged image is left either
    // (untagged, an image pulled by digest still shows as `<repository>:<none>` until then).
    const left = await waitFor('b removed', async () => {
      const now = await imagesOnNode();
      return now.includes(imageOf('b')) || now.some((i) => i.endsWith(':<none>')) ? undefined : now;
    }, 30_000);
    expect(left).toEqual([imageOf('a'), imageOf('c'), 'splitlet-lab/pause:1', 'splitlet-lab/testbox:1'].sort());
    expect((await scratch!.usage()).usedPercent).toBeLessThan(lowThreshold);
    // Enough was freed: no FreeDiskSpaceFailed, and a stays through later collections.
    await new Promise((r) => setTimeout(r, 5_000));
    expect(await imagesOnNode()).toContain(imageOf('a'));
    const events = (await core.listNamespacedEvent({ namespace: 'default', fieldSelector: `involvedObject.name=${nodeName}` })).items;
    expect(events.filter((e) => ['FreeDiskSpaceFailed', 'ImageGCFailed'].includes(e.reason ?? '')).map((e) => e.message)).toEqual([]);
    expect((await read('c')).status?.phase).toBe('Running');
  });

  it('pod-sync - when unused images cannot free enough: FreeDiskSpaceFailed on the Node with the kubelet\'s message, and ImageGCFailed once it fails again', async () => {
    // A second file takes the filesystem to 95 %: a, the one image left to remove, is not enough.
    await fillTo(95, 'filler-2');
    const failed = await waitFor('FreeDiskSpaceFailed and ImageGCFailed', async () => {
      const evs = (await core.listNamespacedEvent({ namespace: 'default', fieldSelector: `involvedObject.name=${nodeName}` })).items;
      const free = evs.filter((e) => e.reason === 'FreeDiskSpaceFailed');
      const gc = evs.find((e) => e.reason === 'ImageGCFailed');
      return free.length && gc ? { free, gc } : undefined;
    }, 30_000);
    for (const e of failed.free) {
      expect(e).toMatchObject({ type: 'Warning', source: { component: 'kubelet', host: nodeName } });
      expect(e.message).toMatch(
        /^Insufficient free disk space on the node's image filesystem \(\d+% of \d+\.\d MiB used\)\. Failed to free sufficient space by deleting unused images \(freed \d+ bytes\)\. Investigate disk usage, as it could be used by active images, logs, volumes, or other data\.$/,
      );
    }
    // The first collection freed a's bytes; the repeated failure is the next one's, with nothing left to free.
    expect(failed.free.map((e) => /freed (\d+) bytes/.exec(e.message ?? '')?.[1])).toContain('0');
    expect(failed.gc.message).toMatch(/^Insufficient free disk space .*\(freed 0 bytes\)/);
    // a was removed on the way (unused, old enough); c, in use, stays and runs.
    expect(await imagesOnNode()).toEqual([imageOf('c'), 'splitlet-lab/pause:1', 'splitlet-lab/testbox:1'].sort());
    expect((await read('c')).status?.phase).toBe('Running');
  });
});
