import { unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { mintNodeKubeconfig, requiredServices, runCommand, startScratchDocker, testNode, type TestNode } from '@splitlet/testing';
import { withNamespace, type BenchContext } from '../context';
import { allRunning, benchPod, randomSuffix, sleep } from '../kube';
import { waitNodeReady } from '../node';
import { latencyFigure, type ScenarioResult } from '../result';

export interface EvictionOptions {
  /** Evictions measured. */
  evictions: number;
  timeoutMs: number;
}

const THRESHOLD_MIB = 150;

/**
 * Eviction (issue 20): the time from a disk threshold crossed to the eviction's first
 * status write — the DisruptionTarget condition, which the eviction writes before the
 * kill. A node of its own (`evict-<hex>`, the kubelet's 10 s monitoring period, hard
 * threshold imagefs.available<150Mi) drives a Docker engine on a 512 MiB loop-mounted
 * filesystem (libs/testing startScratchDocker); each round a pod writes 60 MiB into its
 * container, then a file beside Docker's data root leaves 130 MiB available: the clock
 * starts when that file exists and stops when the watch receives the condition. The
 * figure includes the wait for the next look (0–10 s, the kubelet's too; each crossing
 * is at a random point of the period), the reclaim attempt (dead containers, unused
 * images: nothing to take), the ranking and the status write.
 */
export async function eviction(ctx: BenchContext, opts: EvictionOptions): Promise<ScenarioResult> {
  const startedAt = new Date();
  const samples: number[] = [];
  let failures = 0;
  const scratch = await startScratchDocker({ sizeMiB: 512, images: [process.env['SPLITLET_PAUSE_IMAGE'] ?? 'splitlet-lab/pause:1', 'splitlet-lab/testbox:1'] });
  const nodeName = `evict-${randomSuffix()}`;
  let node: TestNode | undefined;
  const stopAll = async () => {
    await node?.stopAll();
    await ctx.cluster.core.deleteNode({ name: nodeName }).catch(() => undefined);
    await scratch.stop();
  };
  // Registered before anything else can fail: the scratch engine never outlives the scenario.
  const unregister = ctx.cleanup.add(`eviction node ${nodeName}`, stopAll);
  const filler = join(scratch.dataRoot, '..', 'filler');
  try {
    node = testNode(nodeName, await mintNodeKubeconfig(nodeName), {
      SPLITLET_PAUSE_IMAGE: process.env['SPLITLET_PAUSE_IMAGE'] ?? 'splitlet-lab/pause:1',
      SPLITLET_NODE_REQUIRED_SERVICES: requiredServices().join(','),
      DOCKER_HOST: scratch.host,
      SPLITLET_EVICTION_HARD: `memory.available<1Mi,imagefs.available<${THRESHOLD_MIB}Mi`,
      // Only so that DiskPressure is gone (and pods are admitted) soon after each round.
      SPLITLET_EVICTION_PRESSURE_TRANSITION_PERIOD: '1s',
      SPLITLET_NODE_STATUS_UPDATE_FREQUENCY_MS: '1000',
    });
    for (const s of ['runtime-executor', 'status-reporter', 'pod-sync', 'registrar'] as const) await node.start(s);
    await waitNodeReady(ctx.cluster, nodeName, 60_000);
    await withNamespace(ctx, 'eviction', async (ns) => {
      for (let i = 0; i < opts.evictions; i++) {
        const name = `evict-${i}`;
        await ns.create(benchPod(name, nodeName, 'head -c 62914560 /dev/urandom > /fill && touch /written && sleep 3600', { restartPolicy: 'Never' }));
        const running = await ns.tracker.first(name, (e) => e.type !== 'DELETED' && allRunning(e.pod), opts.timeoutMs);
        const id = running?.pod.status?.containerStatuses?.[0]?.containerID?.replace('docker://', '');
        let written = false;
        for (const deadline = Date.now() + 60_000; id && !written && Date.now() < deadline; await sleep(250)) written = (await scratch.docker(['exec', id, 'test', '-f', '/written'])).code === 0;
        if (!written) {
          failures++;
          continue;
        }
        // A random phase against the eviction manager's 10 s looks: rounds of equal length would cross at the same point of its period each time.
        await sleep(Math.random() * 10_000);
        const { availableBytes } = await scratch.usage();
        const fill = Number(availableBytes / 2n ** 20n) - (THRESHOLD_MIB - 20);
        const r = await runCommand('fallocate', ['-l', `${fill}M`, filler]);
        if (r.code !== 0) throw new Error(`fallocate: ${r.stderr}`);
        const crossed = Date.now();
        const seen = await ns.tracker.first(name, (e) => e.pod.status?.conditions?.some((c) => c.type === 'DisruptionTarget') ?? false, 60_000, crossed);
        if (seen) samples.push(seen.at - crossed);
        else failures++;
        ctx.log(`eviction ${i + 1}/${opts.evictions}: ${seen ? `${seen.at - crossed} ms` : 'no eviction within 60 s'}`);
        await unlink(filler);
        await ctx.cluster.core.deleteNamespacedPod({ namespace: ns.name, name });
        await ns.tracker.first(name, (e) => e.type === 'DELETED', opts.timeoutMs, crossed);
        for (const deadline = Date.now() + 30_000; Date.now() < deadline; await sleep(500)) {
          const n = await ctx.cluster.core.readNode({ name: nodeName });
          if (n.status?.conditions?.find((c) => c.type === 'DiskPressure')?.status === 'False') break;
        }
      }
    });
  } finally {
    unregister();
    await stopAll();
  }
  const figure = latencyFigure('eviction.disk', 'Disk threshold crossed → eviction status written (watch: DisruptionTarget), monitoring every 10 s', samples, {
    note: 'from the harness clock once the filler file exists to the receive time of the watch event carrying the DisruptionTarget condition',
    ...(failures ? { failures } : {}),
    ...(samples.length === 0 ? { na: 'no eviction was seen' } : {}),
  });
  return {
    scenario: 'eviction',
    title: 'Eviction',
    figures: [figure],
    notes: ['The kubelet looks every 10 s (its housekeeping period) too: a threshold crossed just after a look waits up to 10 s. No goal is set in the issues for this figure.'],
    startedAt: startedAt.toISOString(),
    durationMs: Date.now() - startedAt.getTime(),
  };
}
