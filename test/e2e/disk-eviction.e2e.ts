import { unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { CoreV1Api, V1Pod } from '@kubernetes/client-node';
import { labEnv, labRegistrySecret, podTestNames, pushBlobImage, runCommand, startPodTestNode, startScratchDocker, waitFor, type ScratchDocker } from '@splitlet/testing';

// Node-pressure eviction for disk, as the kubelet's eviction manager: node-level
// resources are reclaimed first (every dead container, then unused images the node
// pulled), and a pod is evicted only when that was not enough — the one using the
// most ephemeral storage over its request. The node's runtime-executor drives a Docker
// engine of this test's own on a 512 MiB loop-mounted ext4 (startScratchDocker); a
// file beside Docker's data root takes the filesystem below the threshold, so the
// machine's own disk is never short.
const lab = labEnv();
const names = podTestNames('e2e-diskevict');
const { nodeName, namespace } = names;
const FS_MIB = 512;
const THRESHOLD_MIB = 150;
let core: CoreV1Api;
let scratch: ScratchDocker | undefined;
let stopNode: (() => Promise<void>) | undefined;
const unusedImage = `${lab.registry}/${namespace}/unused:1`;
const filler = () => join(scratch!.dataRoot, '..', 'filler');

const podOf = (name: string, image: string, command: string[]): V1Pod => ({
  metadata: { name, namespace },
  spec: {
    nodeName,
    terminationGracePeriodSeconds: 1,
    restartPolicy: 'Never',
    imagePullSecrets: [{ name: 'regcred' }],
    containers: [{ name: 'app', image, command }],
  },
});
const read = (name: string) => core.readNamespacedPod({ namespace, name });
const phase = (name: string, want: string) => waitFor(`${name} ${want}`, async () => ((await read(name)).status?.phase === want ? true : undefined), 90_000);
const nodeEvents = async (reason: string) => (await core.listNamespacedEvent({ namespace: 'default', fieldSelector: `involvedObject.name=${nodeName},reason=${reason}` })).items;
const imagesOnNode = async () => (await scratch!.docker(['images', '--format', '{{.Repository}}:{{.Tag}}'])).stdout.split('\n').filter(Boolean).sort();
/** Fills the scratch filesystem until `availableMiB` is left (a file beside Docker's data root). */
async function leaveAvailable(availableMiB: number): Promise<void> {
  const { availableBytes } = await scratch!.usage();
  const fill = Number(availableBytes / 2n ** 20n) - availableMiB;
  const r = await runCommand('fallocate', ['-l', `${fill}M`, filler()]);
  if (r.code !== 0) throw new Error(`fallocate: ${r.stderr}`);
}

describe('node-pressure eviction (disk)', () => {
  beforeAll(async () => {
    await pushBlobImage(unusedImage, { mib: 64, seed: 'disk-eviction' });
    scratch = await startScratchDocker({ sizeMiB: FS_MIB, images: ['splitlet-lab/pause:1', 'splitlet-lab/testbox:1'] });
    ({ core, stop: stopNode } = await startPodTestNode(names, {
      env: {
        DOCKER_HOST: scratch.host,
        // The disk threshold alone (and a memory one that is never met).
        SPLITLET_EVICTION_HARD: `memory.available<1Mi,imagefs.available<${THRESHOLD_MIB}Mi`,
        SPLITLET_EVICTION_MONITORING_MS: '1000',
        // DiskPressure (registrar) clears a second after the pressure, so the second test's pods are admitted.
        SPLITLET_EVICTION_PRESSURE_TRANSITION_PERIOD: '1s',
        SPLITLET_NODE_STATUS_UPDATE_FREQUENCY_MS: '1000',
        // Reclaim may take an image as soon as nothing uses it; periodic image GC stays out of the way (high 85 %).
        SPLITLET_IMAGE_MINIMUM_GC_AGE: '0s',
      },
      setup: async (api) => void (await api.createNamespacedSecret({ namespace, body: labRegistrySecret('regcred') })),
    }));
  }, 240_000);
  afterAll(async () => {
    await stopNode?.();
    await scratch?.stop();
  });
  // Each test's filler goes with it, passed or failed: the next starts from a roomy disk.
  afterEach(async () => {
    await unlink(filler()).catch(() => undefined);
  });

  it('pod-sync - below imagefs.available, dead containers and the unused image the node pulled are reclaimed first: enough, so no pod is evicted', async () => {
    // The image's one container exits and stays (dead containers are kept, one per container): the image is in use until the reclaim takes the container.
    await core.createNamespacedPod({ namespace, body: podOf('old', unusedImage, ['true']) });
    await phase('old', 'Succeeded');
    await core.createNamespacedPod({ namespace, body: podOf('keeper', 'splitlet-lab/testbox:1', ['sleep', '3600']) });
    await phase('keeper', 'Running');
    expect(await imagesOnNode()).toContain(unusedImage);
    // 30 MiB under the threshold; the image's 66 MiB are enough.
    await leaveAvailable(THRESHOLD_MIB - 30);
    await waitFor('the unused image reclaimed', async () => ((await imagesOnNode()).includes(unusedImage) ? undefined : true), 30_000);
    const met = await waitFor('EvictionThresholdMet', async () => (await nodeEvents('EvictionThresholdMet'))[0], 30_000);
    expect(met).toMatchObject({ type: 'Warning', message: 'Attempting to reclaim ephemeral-storage', source: { component: 'kubelet', host: nodeName } });
    expect((await scratch!.usage()).availableBytes).toBeGreaterThan(BigInt(THRESHOLD_MIB) * 2n ** 20n);
    // The dead container went first (the image could not go while it existed); the pods stay.
    expect((await scratch!.docker(['ps', '-aq', '--filter', 'status=exited', '--filter', 'label=io.kubernetes.container.name=app'])).stdout.trim()).toBe('');
    await new Promise((r) => setTimeout(r, 3_000));
    expect((await read('keeper')).status?.phase).toBe('Running');
    expect((await read('old')).status?.reason).toBeUndefined();
  });

  it('pod-sync - when reclaim is not enough, the pod using the most disk over its request is evicted: Failed, Evicted, the kubelet\'s ephemeral-storage message, DisruptionTarget and an Event; the others stay', async () => {
    // Admission refuses every pod under DiskPressure: the first test's must be over.
    await waitFor('DiskPressure False', async () => ((await core.readNode({ name: nodeName })).status?.conditions?.find((c) => c.type === 'DiskPressure')?.status === 'False' ? true : undefined), 30_000);
    await core.createNamespacedPod({ namespace, body: podOf('writer', 'splitlet-lab/testbox:1', ['sh', '-c', 'head -c 62914560 /dev/urandom > /fill && touch /written && sleep 3600']) });
    await core.createNamespacedPod({ namespace, body: podOf('quiet', 'splitlet-lab/testbox:1', ['sleep', '3600']) });
    for (const name of ['writer', 'quiet']) await phase(name, 'Running');
    const writerId = (await read('writer')).status!.containerStatuses![0]!.containerID!.replace('docker://', '');
    await waitFor('the writer\'s 60 MiB written', async () => ((await scratch!.docker(['exec', writerId, 'test', '-f', '/written'])).code === 0 ? true : undefined), 60_000);
    // 20 MiB under the threshold, and nothing left to reclaim but the writer's own layer.
    await leaveAvailable(THRESHOLD_MIB - 20);
    const evicted = await waitFor('writer evicted', async () => {
      const p = await read('writer');
      return p.status?.phase === 'Failed' ? p : undefined;
    }, 60_000);
    expect(evicted.status?.reason).toBe('Evicted');
    expect(evicted.status?.message).toMatch(
      new RegExp(`^The node was low on resource: ephemeral-storage\\. Threshold quantity: ${THRESHOLD_MIB}Mi, available: \\d+Ki\\. Container app was using \\d+(Ki|Mi), request is 0, has larger consumption of ephemeral-storage\\. $`),
    );
    const [, n, unit] = /was using (\d+)(Ki|Mi)/.exec(evicted.status!.message!)!;
    const used = Number(n) * (unit === 'Mi' ? 2 ** 20 : 1024);
    expect(used).toBeGreaterThanOrEqual(60 * 2 ** 20);
    expect(evicted.status?.conditions?.find((c) => c.type === 'DisruptionTarget')).toMatchObject({ status: 'True', reason: 'TerminationByKubelet', message: evicted.status?.message });
    const event = await waitFor('the Evicted Event', async () => (await core.listNamespacedEvent({ namespace, fieldSelector: 'involvedObject.name=writer,reason=Evicted' })).items[0], 30_000);
    expect(event).toMatchObject({ type: 'Warning', message: evicted.status?.message });
    expect(event.metadata?.annotations).toEqual({ offending_containers: 'app', offending_containers_usage: `${n}${unit}`, starved_resource: 'ephemeral-storage' });
    // Its layer goes with the next look's reclaim (its dead container): the pressure ends there, and quiet and keeper run on.
    await waitFor('the writer\'s layer reclaimed', async () => ((await scratch!.usage()).availableBytes > BigInt(THRESHOLD_MIB) * 2n ** 20n ? true : undefined), 60_000);
    await new Promise((r) => setTimeout(r, 3_000));
    for (const name of ['quiet', 'keeper']) expect((await read(name)).status?.phase).toBe('Running');
  });
});
