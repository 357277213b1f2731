import { readFile } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CoreV1Api, V1Pod } from '@kubernetes/client-node';
import { podTestNames, startPodTestNode, waitFor } from '@splitlet/testing';

// Node-pressure eviction for process IDs, as the kubelet's eviction manager: the node's
// pid.available (pid_max less the threads running, /proc/loadavg) is measured for real;
// the hard threshold is set 1500 below what is available now, so a pod that starts 3000
// processes takes the node under it while the machine keeps more than 25 000 free.
const names = podTestNames('e2e-pidevict');
const { nodeName, namespace } = names;
const HEADROOM = 1500;
const FORKS = 3000;
let core: CoreV1Api;
let stopNode: (() => Promise<void>) | undefined;

const pidsAvailable = async (): Promise<number> => {
  const max = Number((await readFile('/proc/sys/kernel/pid_max', 'utf8')).trim());
  const threads = Number(/\d+\/(\d+)/.exec(await readFile('/proc/loadavg', 'utf8'))![1]);
  return max - threads;
};
const podOf = (name: string, script: string): V1Pod => ({
  metadata: { name, namespace },
  spec: { nodeName, terminationGracePeriodSeconds: 1, containers: [{ name: 'app', image: 'splitlet-lab/testbox:1', command: ['sh', '-c', script] }] },
});
const read = (name: string) => core.readNamespacedPod({ namespace, name });

describe('node-pressure eviction (pid.available)', () => {
  let threshold = 0;
  beforeAll(async () => {
    threshold = (await pidsAvailable()) - HEADROOM;
    ({ core, stop: stopNode } = await startPodTestNode(names, {
      env: {
        SPLITLET_EVICTION_HARD: `memory.available<1Mi,pid.available<${threshold}`,
        SPLITLET_EVICTION_MONITORING_MS: '1000',
        SPLITLET_NODE_STATUS_UPDATE_FREQUENCY_MS: '1000',
      },
    }));
  });
  afterAll(async () => {
    await stopNode?.();
  });

  it('pod-sync - the pod running the most processes is evicted: Failed, Evicted, the kubelet\'s pids message, DisruptionTarget and an Event; PIDPressure on the Node; the quiet pod stays', async () => {
    await core.createNamespacedPod({ namespace, body: podOf('quiet', 'sleep 3600') });
    await waitFor('quiet Running', async () => ((await read('quiet')).status?.phase === 'Running' ? true : undefined), 60_000);
    await core.createNamespacedPod({ namespace, body: podOf('forker', `i=0; while [ $i -lt ${FORKS} ]; do sleep 3600 & i=$((i+1)); done; wait`) });
    const pressure = waitFor('PIDPressure True', async () => ((await core.readNode({ name: nodeName })).status?.conditions?.find((c) => c.type === 'PIDPressure')?.status === 'True' ? true : undefined), 90_000);
    pressure.catch(() => undefined); // awaited below; not unhandled if the test fails before
    const evicted = await waitFor('forker evicted', async () => {
      const p = await read('forker');
      return p.status?.phase === 'Failed' ? p : undefined;
    }, 90_000);
    expect(evicted.status?.reason).toBe('Evicted');
    expect(evicted.status?.message).toMatch(/^The node was low on resource: pids\. Threshold quantity: \d+k?, available: \d+k?\. $/);
    const [, quantity, available] = /Threshold quantity: (\d+k?), available: (\d+k?)/.exec(evicted.status!.message!)!;
    const count = (q: string) => (q.endsWith('k') ? Number(q.slice(0, -1)) * 1000 : Number(q));
    expect(count(quantity!)).toBe(threshold);
    expect(count(available!)).toBeLessThan(threshold);
    expect(evicted.status?.conditions?.find((c) => c.type === 'DisruptionTarget')).toMatchObject({ status: 'True', reason: 'TerminationByKubelet', message: evicted.status?.message });
    const event = await waitFor('the Evicted Event', async () => (await core.listNamespacedEvent({ namespace, fieldSelector: 'involvedObject.name=forker,reason=Evicted' })).items[0], 30_000);
    expect(event).toMatchObject({ type: 'Warning', message: evicted.status?.message });
    await pressure;
    // Its processes are gone with it: the node is above the threshold again, and quiet runs on.
    await waitFor('pid.available above the threshold again', async () => ((await pidsAvailable()) > threshold ? true : undefined), 30_000);
    await new Promise((r) => setTimeout(r, 3_000));
    expect((await read('quiet')).status?.phase).toBe('Running');
  });
});
