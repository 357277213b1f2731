import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CoreV1Api, V1Pod } from '@kubernetes/client-node';
import { podTestNames, runCommand, startPodTestNode, waitFor, type TestNode } from '@splitlet/testing';
import { guaranteedSleeper, memoryAvailableNow, memoryHog } from './setup/memory-pods';

// Node-pressure eviction for memory, as the kubelet's eviction manager: the node's
// memory.available is measured for real (the host's /proc/meminfo); the node's hard
// threshold is set above what is available now (by 2 GiB), so the node is under
// pressure without the machine running short, whatever the other tests do meanwhile.
const names = podTestNames('e2e-evict');
const { nodeName, namespace } = names;
let core: CoreV1Api;
let node: TestNode;
let stopNode: (() => Promise<void>) | undefined;

const read = (name: string) => core.readNamespacedPod({ namespace, name });
const eventsOf = async (name: string) => (await core.listNamespacedEvent({ namespace, fieldSelector: `involvedObject.name=${name},reason=Evicted` })).items;
const availableNow = memoryAvailableNow;
const hog = memoryHog(namespace, nodeName);
const guaranteed = guaranteedSleeper(namespace, nodeName);

describe('node-pressure eviction (memory)', () => {
  beforeAll(async () => {
    ({ core, node, stop: stopNode } = await startPodTestNode(names));
  });
  afterAll(async () => {
    await stopNode?.();
  });

  it('pod-sync - under memory pressure the BestEffort hog is evicted before the Guaranteed pod: Failed, Evicted, the kubelet\'s message, DisruptionTarget and an Event; a new BestEffort pod is refused', async () => {
    await core.createNamespacedPod({ namespace, body: guaranteed });
    await core.createNamespacedPod({ namespace, body: hog });
    for (const name of ['guaranteed', 'hog']) await waitFor(`${name} Running`, async () => ((await read(name)).status?.phase === 'Running' ? true : undefined), 60_000);
    const hogId = (await read('hog')).status!.containerStatuses![0]!.containerID!.replace('docker://', '');
    // The hog holds its 100 MiB before the pressure starts (docker stats shows it).
    await waitFor('the hog using its memory', async () => {
      const used = (await runCommand('docker', ['stats', '--no-stream', '--format', '{{.MemUsage}}', hogId])).stdout;
      return /^(\d{3,}(\.\d+)?MiB|\d+(\.\d+)?GiB)/.test(used.trim()) ? true : undefined;
    }, 30_000);

    // The threshold: 2 GiB above what is available now, in whole GiB.
    const gib = (await availableNow()) / 2n ** 30n + 2n;
    node.env['SPLITLET_EVICTION_HARD'] = `memory.available<${gib}Gi`;
    node.env['SPLITLET_EVICTION_MONITORING_MS'] = '2000';
    await node.stop('pod-sync');
    await node.stop('registrar');
    await node.start('pod-sync');
    await node.start('registrar');

    const evicted = await waitFor('hog Evicted', async () => {
      const p = await read('hog');
      return p.status?.phase === 'Failed' ? p : undefined;
    }, 60_000);
    const message = evicted.status?.message ?? '';
    expect(evicted.status?.reason).toBe('Evicted');
    expect(message).toMatch(new RegExp(`^The node was low on resource: memory\\. Threshold quantity: ${gib}Gi, available: \\d+(Ki|Mi|Gi)?\\. Container app was using \\d+(Ki|Mi)?, request is 0, has larger consumption of memory\\. $`));
    expect(evicted.status?.conditions?.find((c) => c.type === 'DisruptionTarget')).toMatchObject({ status: 'True', reason: 'TerminationByKubelet', message });
    expect(evicted.status?.containerStatuses?.[0]?.state?.terminated).toBeDefined();
    const events = await waitFor('the Evicted Event', async () => {
      const items = await eventsOf('hog');
      return items.length ? items : undefined;
    });
    // Once (a repeat would show as count 2: its times say when it came).
    expect(events.map((e) => [e.type, e.message, e.count]), JSON.stringify(events.map((e) => [e.firstTimestamp, e.lastTimestamp]))).toEqual([['Warning', message, 1]]);
    // The annotations the kubelet's recorder puts on it (AnnotatedEventf): the container over its request and its use, as the message says.
    const using = /Container app was using (\S+), request/.exec(message)?.[1];
    expect(events[0]?.metadata?.annotations).toEqual({ offending_containers: 'app', offending_containers_usage: using, starved_resource: 'memory' });
    expect((await runCommand('docker', ['inspect', '-f', '{{.State.Running}}', hogId])).stdout.trim()).toBe('false');

    // Then the Guaranteed pod (within its request: no container named), one pod per look.
    const second = await waitFor('guaranteed Evicted', async () => {
      const p = await read('guaranteed');
      return p.status?.phase === 'Failed' ? p : undefined;
    }, 60_000);
    expect(second.status?.message).toMatch(new RegExp(`^The node was low on resource: memory\\. Threshold quantity: ${gib}Gi, available: \\d+(Ki|Mi|Gi)?\\. $`));
    const at = (p: V1Pod) => new Date(p.status!.conditions!.find((c) => c.type === 'DisruptionTarget')!.lastTransitionTime!).getTime();
    expect(at(second)).toBeGreaterThanOrEqual(at(evicted));

    // registrar reports MemoryPressure from the same threshold: a new BestEffort pod is refused.
    await waitFor('MemoryPressure', async () => ((await core.readNode({ name: nodeName })).status?.conditions?.find((c) => c.type === 'MemoryPressure')?.status === 'True' ? true : undefined), 40_000);
    // The Node's Events, as `kubectl describe node` lists them: the eviction manager's attempts, registrar's transition.
    const nodeEvents = async () => (await core.listNamespacedEvent({ namespace: 'default', fieldSelector: `involvedObject.kind=Node,involvedObject.name=${nodeName}` })).items;
    const want = [
      ['Warning', 'EvictionThresholdMet', 'Attempting to reclaim memory'],
      ['Normal', 'NodeHasInsufficientMemory', `Node ${nodeName} status is now: NodeHasInsufficientMemory`],
    ];
    await waitFor('EvictionThresholdMet and NodeHasInsufficientMemory', async () => {
      const got = (await nodeEvents()).map((e) => JSON.stringify([e.type, e.reason, e.message]));
      return want.every((w) => got.includes(JSON.stringify(w))) ? true : undefined;
    }, 30_000);
    await core.createNamespacedPod({ namespace, body: { metadata: { name: 'late', namespace }, spec: { nodeName, containers: [{ name: 'app', image: 'splitlet-lab/testbox:1', command: ['sleep', '3600'] }] } } });
    const late = await waitFor('late refused', async () => {
      const p = await read('late');
      return p.status?.phase === 'Failed' ? p : undefined;
    }, 30_000);
    expect([late.status?.reason, late.status?.message]).toEqual(['Evicted', 'Pod was rejected: The node had condition: [MemoryPressure]. ']);
    expect(late.status?.containerStatuses ?? []).toEqual([]);
    expect((await eventsOf('late')).map((e) => [e.type, e.message])).toEqual([['Warning', 'The node had condition: [MemoryPressure]. ']]);
  }, 300_000);

  it('pod-sync - a soft threshold: MemoryPressure at once, the eviction only after its grace period, the pod killed after --eviction-max-pod-grace-period instead of its own 30 s', async () => {
    // No pressure first (the previous test left the node under a hard threshold): the kubelet's defaults.
    delete node.env['SPLITLET_EVICTION_HARD'];
    await node.stop('pod-sync');
    await node.stop('registrar');
    await node.start('pod-sync');
    await node.start('registrar');
    await waitFor('no MemoryPressure', async () => ((await core.readNode({ name: nodeName })).status?.conditions?.find((c) => c.type === 'MemoryPressure')?.status === 'False' ? true : undefined), 40_000);
    // Burstable (a BestEffort pod is refused under MemoryPressure), within its request. It
    // outlives SIGTERM, writing when it came to its termination message.
    await core.createNamespacedPod({
      namespace,
      body: {
        metadata: { name: 'soft-hog', namespace },
        spec: {
          nodeName,
          terminationGracePeriodSeconds: 30,
          containers: [{ name: 'app', image: 'splitlet-lab/testbox:1', command: ['sh', '-c', 'trap "date +%s > /dev/termination-log" TERM; while true; do sleep 1; done'], resources: { requests: { memory: '64Mi' } } }],
        },
      },
    });
    await waitFor('soft-hog Running', async () => ((await read('soft-hog')).status?.phase === 'Running' ? true : undefined), 60_000);

    const gib = (await availableNow()) / 2n ** 30n + 2n;
    node.env['SPLITLET_EVICTION_SOFT'] = `memory.available<${gib}Gi`;
    node.env['SPLITLET_EVICTION_SOFT_GRACE_PERIOD'] = 'memory.available=20s';
    node.env['SPLITLET_EVICTION_MAX_POD_GRACE_PERIOD'] = '5';
    node.env['SPLITLET_EVICTION_MONITORING_MS'] = '2000';
    await node.stop('pod-sync');
    await node.stop('registrar');
    // Whole seconds, as the API's times.
    const started = Math.floor(Date.now() / 1000) * 1000;
    await node.start('pod-sync');
    await node.start('registrar');

    const evicted = await waitFor('soft-hog Evicted', async () => {
      const p = await read('soft-hog');
      return p.status?.phase === 'Failed' && p.status.containerStatuses?.[0]?.state?.terminated ? p : undefined;
    }, 90_000);
    expect(evicted.status?.reason).toBe('Evicted');
    expect(evicted.status?.message).toMatch(new RegExp(`^The node was low on resource: memory\\. Threshold quantity: ${gib}Gi, available: \\d+(Ki|Mi|Gi)?\\. $`));
    const evictedAt = new Date(evicted.status!.conditions!.find((c) => c.type === 'DisruptionTarget')!.lastTransitionTime!).getTime();
    // Not before the threshold was met for its 20 s grace period (pod-sync's first look comes after its start).
    expect(evictedAt - started).toBeGreaterThanOrEqual(20_000);
    // The condition did not wait for the grace period.
    const pressure = (await core.readNode({ name: nodeName })).status?.conditions?.find((c) => c.type === 'MemoryPressure');
    expect(pressure?.status).toBe('True');
    expect(new Date(pressure!.lastTransitionTime!).getTime()).toBeLessThan(evictedAt);
    // SIGKILL 5 s after SIGTERM (the maximum), not the pod's own 30 s (whole seconds both).
    const terminated = evicted.status!.containerStatuses![0]!.state!.terminated!;
    expect(terminated.exitCode).toBe(137);
    expect(terminated.message).toMatch(/^\d+\n$/);
    const termAt = Number(terminated.message!.trim()) * 1000;
    // The status (Failed, DisruptionTarget) was decided before the kill began (SyncTerminatingPod's order).
    expect(evictedAt).toBeLessThanOrEqual(termAt + 1000);
    const killedAfter = new Date(terminated.finishedAt!).getTime() - termAt;
    expect(killedAfter).toBeGreaterThanOrEqual(3_000);
    expect(killedAfter).toBeLessThan(25_000);
    // Failed for good: the node's resyncs (every 2 s here) never take it out of the terminal phase.
    await new Promise((r) => setTimeout(r, 6_000));
    const later = await read('soft-hog');
    expect([later.status?.phase, later.status?.reason, later.status?.conditions?.find((c) => c.type === 'DisruptionTarget')?.lastTransitionTime]).toEqual(['Failed', 'Evicted', evicted.status!.conditions!.find((c) => c.type === 'DisruptionTarget')!.lastTransitionTime]);
  }, 300_000);
});
