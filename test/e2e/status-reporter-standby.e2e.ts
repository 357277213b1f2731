import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CoreV1Api, V1Pod } from '@kubernetes/client-node';
import { labBusEnv, podTestNames, startPodTestNode, startServiceProcess, waitFor, type PodTestNode, type ServiceProcess } from '@splitlet/testing';

// Two status-reporters for one node (issue 19): one writes the pod statuses and Events,
// the other stands by with its pod cache warm. The leader killed (SIGKILL), the
// standby takes over within the election's lease (5 s) and a look (1 s): a pod created
// meanwhile gets its status and its Events, each Event once.
const names = podTestNames('e2e-srha');
const { nodeName, namespace } = names;
/** The election's lease and retry period (status-reporter's defaults). */
const LEASE_MS = 5_000;
const RETRY_MS = 1_000;

const podOf = (name: string): V1Pod => ({
  metadata: { name, namespace },
  spec: { nodeName, terminationGracePeriodSeconds: 1, containers: [{ name: 'app', image: 'splitlet-lab/testbox:1', command: ['sleep', '3600'] }] },
});

describe('status-reporter replicas', () => {
  let t: PodTestNode;
  let core: CoreV1Api;
  let standby: ServiceProcess | undefined;
  const led = (p: ServiceProcess) => p.logs.some((l) => l['msg'] === 'started leading');
  const patched = (p: ServiceProcess) => p.logs.filter((l) => l['msg'] === 'pod status patched').map((l) => String(l['pod']));
  const running = (name: string, ms: number) =>
    waitFor(`${name} Running`, async () => {
      const p = await core.readNamespacedPod({ namespace, name });
      return p.status?.containerStatuses?.[0]?.state?.running ? p : undefined;
    }, ms);

  beforeAll(async () => {
    t = await startPodTestNode(names);
    core = t.core;
  });
  afterAll(async () => {
    if (standby && standby.child.exitCode === null && standby.child.signalCode === null) standby.kill('SIGTERM');
    await standby?.exited;
    await t?.stop();
  });

  it('status-reporter - a second replica stands by: it names the leader and writes nothing; the leader writes the pod\'s status', async () => {
    const first = t.node.procs['status-reporter']!;
    await waitFor('the first replica leads', async () => (led(first) ? true : undefined), 10_000);
    standby = startServiceProcess('status-reporter', { ...(await labBusEnv(nodeName, 'status-reporter')), ...t.node.env, SPLITLET_STATUS_REPORTER_REPLICA_ID: 'sr-b', LOG_LEVEL: 'debug' });
    await standby.waitForLog((l) => l['msg'] === 'started', 30_000);
    await standby.waitForLog((l) => l['msg'] === 'new leader' && l['leader'] !== 'sr-b', 10_000);
    await core.createNamespacedPod({ namespace, body: podOf('before') });
    await running('before', 60_000);
    expect(led(standby)).toBe(false);
    // Each status write is a debug line ('pod status patched'): the standby has none.
    expect(patched(standby)).toEqual([]);
  });

  it('status-reporter - the leader killed (SIGKILL): the standby leads within the lease and a look; a pod created meanwhile gets its status and each of its Events once', async () => {
    await t.node.stop('status-reporter', 'SIGKILL');
    const killedAt = Date.now();
    await core.createNamespacedPod({ namespace, body: podOf('after') });
    await standby!.waitForLog((l) => l['msg'] === 'started leading', LEASE_MS + 3 * RETRY_MS + 5_000);
    await running('after', 30_000);
    expect(patched(standby!)).toContain(`${namespace}/after`);
    const tookOver = Date.parse(String(standby!.logs.find((l) => l['msg'] === 'started leading')!['time'])) - killedAt;
    expect(tookOver).toBeLessThan(LEASE_MS + 3 * RETRY_MS);
    // The node's Events of the pod (source kubelet), each reason's one Event with count 1.
    const events = await waitFor('after: Started', async () => {
      const list = (await core.listNamespacedEvent({ namespace, fieldSelector: 'involvedObject.name=after,source=kubelet' })).items;
      return list.some((e) => e.reason === 'Started') ? list : undefined;
    }, 30_000);
    for (const reason of ['Pulled', 'Created', 'Started']) {
      expect(events.filter((e) => e.reason === reason).map((e) => e.count ?? 1), reason).toEqual([1]);
    }
  });
});
