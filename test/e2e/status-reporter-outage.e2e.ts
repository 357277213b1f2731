import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CoreV1Api, CoreV1Event, V1Pod } from '@kubernetes/client-node';
import { podTestNames, runCommand, startPodTestNode, waitFor, type TestNode } from '@splitlet/testing';

// status-reporter killed (SIGKILL) for 45 s while pods are created, deleted and crash:
// nothing pod-sync handed over meanwhile is lost. When it returns, the statuses are
// written at once (not at pod-sync's next resync, a minute later), and every Event of
// the outage is in the API server exactly once, dated when it happened.
const names = podTestNames('e2e-sr-outage');
const { nodeName, namespace } = names;
const OUTAGE_MS = 45_000;
/** Far below pod-sync's resync (60 s with the default settings used here): what came after the return came from the stream. */
const CATCH_UP_MS = 15_000;
let core: CoreV1Api;
const podOf = (name: string, command: string[]): V1Pod => ({
  metadata: { name, namespace },
  spec: { nodeName, terminationGracePeriodSeconds: 2, containers: [{ name: 'app', image: 'splitlet-lab/testbox:1', command }] },
});
/** The pod's app containers in Docker (every attempt), newest first, with their state. */
const dockerApps = async (uid: string) => {
  const out = (await runCommand('docker', ['ps', '-a', '--no-trunc', '--filter', `label=io.kubernetes.pod.uid=${uid}`, '--filter', 'label=io.kubernetes.container.name=app', '--format', '{{.ID}} {{.State}}'])).stdout;
  return out.split('\n').filter(Boolean).map((l) => ({ id: l.split(' ')[0]!, state: l.split(' ')[1]! }));
};
const read = (name: string) => core.readNamespacedPod({ namespace, name });
/** The node's Events about a pod (source kubelet: the control plane writes some of its own, e.g. the taint manager's while the node is NotReady). */
const eventsOf = async (name: string): Promise<CoreV1Event[]> => (await core.listNamespacedEvent({ namespace, fieldSelector: `involvedObject.name=${name},source=kubelet` })).items;

describe('status-reporter outage', () => {
  let node: TestNode;
  let stopNode: (() => Promise<void>) | undefined;
  beforeAll(async () => {
    // pod-sync's default resync (a minute): a status written soon after the return came from the stream.
    ({ core, node, stop: stopNode } = await startPodTestNode(names, { env: { SPLITLET_POD_RESYNC_MS: '60000' } }));
  });
  afterAll(async () => {
    await stopNode?.();
  });

  it('status-reporter - killed for 45 s while pods are created, deleted and crash: on its return every status is written from what was kept, and every Event of the outage once', async () => {
    const before = await core.createNamespacedPod({ namespace, body: podOf('before', ['sleep', '3600']) });
    await waitFor('before Running', async () => ((await read('before')).status?.phase === 'Running' ? true : undefined), 60_000);

    await node.stop('status-reporter', 'SIGKILL');
    const killedAt = Date.now();
    const born = await core.createNamespacedPod({ namespace, body: podOf('born', ['sleep', '3600']) });
    const crasher = await core.createNamespacedPod({ namespace, body: podOf('crasher', ['sh', '-c', 'exit 3']) });
    await core.deleteNamespacedPod({ namespace, name: 'before' });
    // What Docker shows meanwhile: born runs, crasher has exited and been restarted, before's container is stopped.
    await waitFor('born running in Docker', async () => ((await dockerApps(born.metadata!.uid!)).some((c) => c.state === 'running') ? true : undefined), 30_000);
    await waitFor('crasher restarted in Docker', async () => ((await dockerApps(crasher.metadata!.uid!)).length >= 2 ? true : undefined), 40_000);
    await waitFor("before's container stopped", async () => ((await dockerApps(before.metadata!.uid!)).every((c) => c.state !== 'running') ? true : undefined), 30_000);
    await new Promise((r) => setTimeout(r, Math.max(0, killedAt + OUTAGE_MS - Date.now())));
    // Nobody wrote meanwhile: born still shows no container.
    expect((await read('born')).status?.containerStatuses).toBeUndefined();
    expect(await eventsOf('born')).toEqual([]);

    await node.start('status-reporter');
    const backAt = Date.now();
    const bornRunning = await waitFor('born Running in the API', async () => {
      const p = await read('born');
      return p.status?.phase === 'Running' ? p : undefined;
    }, CATCH_UP_MS);
    const bornApp = (await dockerApps(born.metadata!.uid!)).find((c) => c.state === 'running')!;
    expect(bornRunning.status?.containerStatuses?.[0]?.containerID).toBe(`docker://${bornApp.id}`);
    const crashed = await waitFor('crasher shows a restart', async () => {
      const s = (await read('crasher')).status?.containerStatuses?.[0];
      return s && s.restartCount >= 1 && s.lastState?.terminated?.exitCode === 3 ? s : undefined;
    }, CATCH_UP_MS);
    expect(crashed.lastState?.terminated?.reason).toBe('Error');
    // The deletion is completed: status-reporter deletes the pod once its containers are gone.
    await waitFor('before deleted', async () => ((await core.listNamespacedPod({ namespace, fieldSelector: 'metadata.name=before' })).items.length === 0 ? true : undefined), CATCH_UP_MS);
    console.log(`status-reporter back after ${backAt - killedAt} ms: born Running, crasher's restart and before's deletion in the API ${Date.now() - backAt} ms later`);

    // Every Event of the outage, once each (one Event object per reason), dated when it happened.
    const bornEvents = await waitFor('born: Pulled, Created, Started', async () => {
      const items = await eventsOf('born');
      return ['Pulled', 'Created', 'Started'].every((r) => items.some((e) => e.reason === r)) ? items : undefined;
    }, CATCH_UP_MS);
    expect(bornEvents.map((e) => [e.reason, e.count]).sort()).toEqual([
      ['Created', 1],
      // The lab has no cluster DNS: a ClusterFirst pod falls back to Default, as on a kubelet.
      ['MissingClusterDNS', 1],
      ['Pulled', 1],
      ['Started', 1],
    ]);
    const killing = await waitFor('before: Killing', async () => {
      const items = (await eventsOf('before')).filter((e) => e.reason === 'Killing');
      return items.length ? items : undefined;
    }, CATCH_UP_MS);
    expect(killing.map((e) => e.count)).toEqual([1]);
    const crasherEvents = await waitFor('crasher: Created, Started, BackOff', async () => {
      const items = await eventsOf('crasher');
      return ['Created', 'Started', 'BackOff'].every((r) => items.some((e) => e.reason === r)) ? items : undefined;
    }, CATCH_UP_MS);
    for (const reason of ['Created', 'Started']) expect(crasherEvents.filter((e) => e.reason === reason), `crasher ${reason}`).toHaveLength(1);
    expect(crasherEvents.find((e) => e.reason === 'Started')!.count).toBeGreaterThanOrEqual(2);
    for (const e of [...bornEvents, ...killing]) {
      expect(e.source).toEqual({ component: 'kubelet', host: nodeName });
      // Dated within the outage (second precision), not when status-reporter wrote it.
      const at = new Date(e.firstTimestamp!).getTime();
      expect(at, `${e.reason} of ${e.involvedObject.name}`).toBeGreaterThanOrEqual(Math.floor(killedAt / 1000) * 1000);
      expect(at, `${e.reason} of ${e.involvedObject.name}`).toBeLessThan(backAt);
    }
  }, 240_000);
});
