import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CoreV1Api, CoreV1Event } from '@kubernetes/client-node';
import { type NatsConnection } from '@nats-io/transport-node';
import { recordPodEvent } from '@splitlet/bus';
import { connectToLabBus, kubectl, labEnv, podTestNames, startPodTestNode, waitFor } from '@splitlet/testing';

// Events as a user reads them from a splitlet node, written by status-reporter with
// client-go's EventCorrelator: a pod's similar events (same reason and type, other
// messages) are Events of their own until the 10th distinct message within 10 minutes;
// from it on they are one "(combined from similar events): <latest message>" Event
// whose count grows.
const lab = labEnv();
const names = podTestNames('e2e-events');
const { nodeName, namespace } = names;
let core: CoreV1Api;

const mountFailure = (i: number) => `MountVolume.SetUp failed for volume "config-${i}" : configmap "settings-${i}" not found`;
const COMBINED = '(combined from similar events): ';
const failedMounts = async (): Promise<CoreV1Event[]> => (await core.listNamespacedEvent({ namespace, fieldSelector: 'involvedObject.name=web,reason=FailedMount' })).items;

describe('Events on a splitlet node', () => {
  let stopNode: (() => Promise<void>) | undefined;
  let nc: NatsConnection;
  let uid = '';
  // As pod-sync records a FailedMount (recorder.Eventf) on the node's events subject.
  const record = (i: number) => recordPodEvent(nc, nodeName, { namespace, name: 'web', uid }, 'Warning', 'FailedMount', mountFailure(i));

  beforeAll(async () => {
    ({ core, stop: stopNode } = await startPodTestNode(names));
    nc = await connectToLabBus(nodeName, 'pod-sync');
    await core.createNamespacedPod({
      namespace,
      body: { metadata: { name: 'web', namespace }, spec: { nodeName, terminationGracePeriodSeconds: 1, containers: [{ name: 'app', image: 'splitlet-lab/testbox:1', command: ['sleep', '3600'] }] } },
    });
    const running = await waitFor('web Running', async () => {
      const p = await core.readNamespacedPod({ namespace, name: 'web' });
      return p.status?.phase === 'Running' ? p : undefined;
    }, 60_000);
    uid = running.metadata!.uid!;
  });
  afterAll(async () => {
    await nc?.close();
    await stopNode?.();
  });

  it('status-reporter - 12 similar events of a pod: 9 Events of their own, then one combined Event counting the 10th to 12th', async () => {
    for (let i = 1; i <= 12; i++) record(i);
    const events = await waitFor('9 FailedMount Events and a combined one of count 3', async () => {
      const items = await failedMounts();
      return items.length === 10 && items.find((e) => e.message?.startsWith(COMBINED))?.count === 3 ? items : undefined;
    }, 30_000);

    const plain = events.filter((e) => !e.message!.startsWith(COMBINED));
    expect(plain.map((e) => e.message).sort()).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9].map(mountFailure).sort());
    for (const e of plain) {
      expect(e).toMatchObject({ type: 'Warning', count: 1, source: { component: 'kubelet', host: nodeName }, involvedObject: { kind: 'Pod', name: 'web', uid } });
      expect(e.metadata.name).toMatch(/^web\.[0-9a-f]+$/);
    }
    const combined = events.find((e) => e.message!.startsWith(COMBINED))!;
    expect(combined).toMatchObject({
      type: 'Warning',
      reason: 'FailedMount',
      // The latest message, as the patch of each repeat carries it.
      message: COMBINED + mountFailure(12),
      count: 3,
      source: { component: 'kubelet', host: nodeName },
      involvedObject: { kind: 'Pod', namespace, name: 'web', uid },
    });
    expect(combined.metadata.name).toMatch(/^web\.[0-9a-f]+$/);
    expect(combined.firstTimestamp!.getTime()).toBeLessThanOrEqual(combined.lastTimestamp!.getTime());
  });

  it('status-reporter - one more similar event raises the combined Event\'s count: what `kubectl get events -o wide` shows', async () => {
    record(13);
    const combined = await waitFor('the combined Event at count 4', async () => (await failedMounts()).find((e) => e.message === COMBINED + mountFailure(13) && e.count === 4), 30_000);
    expect(await failedMounts()).toHaveLength(10);

    const got = await kubectl(lab.adminKubeconfig, ['get', 'events', '-n', namespace, '--field-selector', 'involvedObject.name=web,reason=FailedMount', '-o', 'wide']);
    expect(got.code).toBe(0);
    const [header, ...rows] = got.stdout.trim().split('\n');
    expect(header).toMatch(/^LAST SEEN\s+TYPE\s+REASON\s+OBJECT\s+SUBOBJECT\s+SOURCE\s+MESSAGE\s+FIRST SEEN\s+COUNT\s+NAME$/);
    expect(rows).toHaveLength(10);
    // LAST SEEN, TYPE, REASON, OBJECT, SOURCE, MESSAGE, FIRST SEEN, COUNT, NAME.
    const row = (message: string, count: number, name?: string) =>
      new RegExp(`^\\S+\\s+Warning\\s+FailedMount\\s+pod/web\\s+kubelet, ${nodeName}\\s+${message.replace(/[().*+?^${}|[\]\\]/g, '\\$&')}\\s+\\S+\\s+${count}\\s+${name ?? 'web\\.[0-9a-f]+'}$`);
    for (let i = 1; i <= 9; i++) expect(rows.filter((r) => row(mountFailure(i), 1).test(r))).toHaveLength(1);
    expect(rows.filter((r) => row(COMBINED + mountFailure(13), 4, combined.metadata.name).test(r))).toHaveLength(1);
  });

  it('registrar - the kubelet\'s Node events: Starting, each condition as registered, NodeReady; cordon and uncordon, as `kubectl describe node` lists them', async () => {
    // The kubelet's (the node controller records RegisteredNode on the same Node).
    // Beside registrar's: pod-sync's MissingClusterDNS (this lab has no cluster DNS), on the Node as the kubelet records it for each ClusterFirst pod.
    const nodeEvents = async () =>
      (await core.listNamespacedEvent({ namespace: 'default', fieldSelector: `involvedObject.kind=Node,involvedObject.name=${nodeName},source=kubelet` })).items.filter((e) => e.reason !== 'MissingClusterDNS');
    const status = (e: string) => [e, `Node ${nodeName} status is now: ${e}`];
    const registered = [['Starting', 'Starting kubelet.'], ...['NodeHasSufficientMemory', 'NodeHasNoDiskPressure', 'NodeHasSufficientPID', 'NodeReady'].map(status)];
    const seen = await waitFor('the registration events', async () => {
      const items = await nodeEvents();
      return items.length >= registered.length ? items : undefined;
    }, 30_000);
    expect(seen.map((e) => [e.reason, e.message]).sort()).toEqual(registered.sort());
    for (const e of seen) expect(e).toMatchObject({ type: 'Normal', source: { component: 'kubelet', host: nodeName }, involvedObject: { kind: 'Node', name: nodeName, uid: nodeName } });
    try {
      expect((await kubectl(lab.adminKubeconfig, ['cordon', nodeName])).code).toBe(0);
      await waitFor('NodeNotSchedulable', async () => ((await nodeEvents()).some((e) => e.reason === 'NodeNotSchedulable' && e.message === status('NodeNotSchedulable')[1]) ? true : undefined), 30_000);
    } finally {
      await kubectl(lab.adminKubeconfig, ['uncordon', nodeName]);
    }
    await waitFor('NodeSchedulable', async () => ((await nodeEvents()).some((e) => e.reason === 'NodeSchedulable' && e.message === status('NodeSchedulable')[1]) ? true : undefined), 30_000);
  });
});

