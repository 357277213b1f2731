import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CoreV1Api, V1Node, V1NodeCondition } from '@kubernetes/client-node';
import { podTestNames, startDockerProxy, startPodTestNode, waitFor, type DockerProxy } from '@splitlet/testing';

// The kubelet's PLEG health check: a runtime that answers its status but whose relists
// hang makes the node NotReady, "PLEG is not healthy: pleg was last seen active … ago;
// threshold is 3m0s". Docker's engine did this here under the soak's churn (deadlocked in
// libnetwork: `_ping`, info and `docker ps` answered, every inspect waited). This node's
// runtime-executor reaches the lab's Docker through a proxy (startDockerProxy) that the
// test wedges the same way. The threshold is 30 s, not the kubelet's 3 minutes, so the
// test waits less; Docker's request deadline (20 s) ends each hung relist before it.
const names = podTestNames('e2e-pleg');
const { nodeName, namespace } = names;
const THRESHOLD_S = 30;
let core: CoreV1Api;
let proxy: DockerProxy | undefined;
let stopNode: (() => Promise<void>) | undefined;

const ready = (n: V1Node) => n.status?.conditions?.find((c) => c.type === 'Ready');
const readyIs = (status: 'True' | 'False', timeoutMs: number) =>
  waitFor(`Ready=${status}`, async () => {
    const c = ready(await core.readNode({ name: nodeName }));
    return c?.status === status ? c : undefined;
  }, timeoutMs, 500);

describe('registrar PLEG health', () => {
  beforeAll(async () => {
    proxy = await startDockerProxy();
    ({ core, stop: stopNode } = await startPodTestNode(names, {
      env: { DOCKER_HOST: proxy.host, SPLITLET_PLEG_RELIST_THRESHOLD_MS: String(THRESHOLD_S * 1000), SPLITLET_DOCKER_REQUEST_TIMEOUT_MS: '20000' },
    }));
  }, 240_000);
  afterAll(async () => {
    proxy?.wedge(false);
    await stopNode?.();
    await proxy?.close();
  });

  it('registrar - inspects hang while the runtime\'s status answers: NotReady "PLEG is not healthy: pleg was last seen active … ago; threshold is 30s" once the last good relist is past the threshold, a NodeNotReady Event; Ready again once they answer', async () => {
    // Something to inspect: a relist of a node with no container would not touch the wedge.
    await core.createNamespacedPod({
      namespace,
      body: { metadata: { name: 'app' }, spec: { nodeName, terminationGracePeriodSeconds: 1, containers: [{ name: 'app', image: 'splitlet-lab/testbox:1', command: ['sleep', '3600'] }] } },
    });
    await waitFor('app Running', async () => ((await core.readNamespacedPod({ namespace, name: 'app' })).status?.phase === 'Running' ? true : undefined), 60_000);
    await readyIs('True', 30_000);

    proxy!.wedge(true);
    const wedgedAt = Date.now();
    const notReady: V1NodeCondition = await readyIs('False', (THRESHOLD_S + 45) * 1000);
    const after = (Date.now() - wedgedAt) / 1000;
    expect(proxy!.held).toBeGreaterThan(0);
    // Only the PLEG: runtime-executor's status (Docker's _ping and info) still answers, and no service is missing.
    expect(notReady.reason).toBe('KubeletNotReady');
    const m = /^PLEG is not healthy: pleg was last seen active (?:(\d+)m)?([\d.]+)s ago; threshold is 30s$/.exec(notReady.message ?? '');
    expect(m, notReady.message).not.toBeNull();
    const seenAgo = Number(m![1] ?? 0) * 60 + Number(m![2]);
    expect(seenAgo).toBeGreaterThan(THRESHOLD_S);
    // Not at once: the last good relist started at most one status update (10 s) before the wedge.
    expect(after).toBeGreaterThan(THRESHOLD_S - 11);
    const events = await waitFor('a NodeNotReady Event', async () => {
      const list = await core.listNamespacedEvent({ namespace: 'default', fieldSelector: `involvedObject.kind=Node,involvedObject.name=${nodeName},reason=NodeNotReady` });
      return list.items.length ? list.items : undefined;
    });
    expect(events[0]).toMatchObject({ type: 'Normal', message: `Node ${nodeName} status is now: NodeNotReady`, source: { component: 'kubelet', host: nodeName } });

    proxy!.wedge(false);
    const back = await readyIs('True', 40_000);
    expect(back).toMatchObject({ reason: 'KubeletReady', message: 'kubelet is posting ready status' });
    // The pod ran on throughout.
    expect((await core.readNamespacedPod({ namespace, name: 'app' })).status?.containerStatuses?.[0]).toMatchObject({ ready: true, restartCount: 0 });
  }, 180_000);
});
