import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CoreV1Api, KubeConfig, type V1Pod } from '@kubernetes/client-node';
import { type NatsConnection } from '@nats-io/transport-node';
import { create, toBinary } from '@bufbuild/protobuf';
import { ensureStatusStream, podStatusSubject } from '@splitlet/bus';
import { statusv1 } from '@splitlet/contracts';
import { connectToLabBus, kubectl, labEnv, mintNodeKubeconfig, testNode, type TestNode, waitFor } from '@splitlet/testing';

// status-reporter against the lab as the node identity: what it is handed is what
// `kubectl get pod -o yaml` shows; a stale update changes nothing; a terminated pod's
// graceful deletion is completed; a pod of another node cannot be touched (403).
const lab = labEnv();
const suffix = randomBytes(3).toString('hex');
const nodeName = `e2e-sr-${suffix}`;
const namespace = `e2e-sr-${suffix}`;
const admin = new KubeConfig();
admin.loadFromFile(lab.adminKubeconfig);
const core = admin.makeApiClient(CoreV1Api);
const T0 = BigInt(Date.UTC(2026, 10, 28, 12)) * 1_000_000n;

const podSpec = (name: string, node: string): V1Pod => ({
  metadata: { name, namespace },
  spec: { nodeName: node, containers: [{ name: 'app', image: 'splitlet-lab/testbox:1' }] },
});

describe('status-reporter against the lab', () => {
  let node: TestNode;
  let nc: NatsConnection;
  /** An update as pod-sync publishes it; `running` forces the app container's state to running. */
  const publish = (pod: V1Pod, version: number | bigint, phase: string, terminated = false, running = phase === 'Running', extra: { message?: string; reason?: string } = {}) =>
    nc.publish(
      podStatusSubject(nodeName, pod.metadata!.uid!),
      toBinary(
        statusv1.PodStatusUpdateSchema,
        create(statusv1.PodStatusUpdateSchema, {
          podUid: pod.metadata!.uid!,
          namespace,
          name: pod.metadata!.name!,
          version: BigInt(version),
          terminated,
          status: {
            phase,
            ...extra,
            hostIp: '192.0.2.2',
            hostIps: ['192.0.2.2'],
            podIp: '172.17.0.9',
            podIps: ['172.17.0.9'],
            startTime: T0,
            qosClass: 'BestEffort',
            conditions: [
              { type: 'Initialized', status: 'True', lastTransitionTime: T0 },
              { type: 'Ready', status: phase === 'Running' ? 'True' : 'False', reason: phase === 'Running' ? '' : 'ContainersNotReady', lastTransitionTime: T0 },
            ],
            containerStatuses: [
              {
                name: 'app',
                ready: running,
                restartCount: 0,
                image: 'splitlet-lab/testbox:1',
                imageId: 'docker://sha256:abc',
                containerId: 'docker://0123',
                started: running,
                state: running ? { state: { case: 'running', value: { startedAt: T0 } } } : { state: { case: 'waiting', value: { reason: 'ContainerCreating' } } },
              },
            ],
          },
        }),
      ),
    );

  beforeAll(async () => {
    expect((await kubectl(lab.adminKubeconfig, ['create', 'namespace', namespace])).code).toBe(0);
    // The pod GC deletes pods bound to a node that does not exist; no registrar runs here.
    await core.createNode({ body: { metadata: { name: nodeName } } });
    node = testNode(nodeName, await mintNodeKubeconfig(nodeName), { SPLITLET_STATUS_RECONCILE_MS: '2000' });
    await node.start('status-reporter');
    // As pod-sync, the one publisher of pod statuses (it creates the status stream).
    nc = await connectToLabBus(nodeName, 'pod-sync');
    await ensureStatusStream(nc, nodeName);
  });
  afterAll(async () => {
    await node?.stopAll();
    await nc?.close();
    await kubectl(lab.adminKubeconfig, ['delete', 'namespace', namespace, '--wait=false']);
    await core.deleteNode({ name: nodeName }).catch(() => undefined);
  });

  it('status-reporter - the pod status it is handed is what the API server shows', async () => {
    const pod = await core.createNamespacedPod({ namespace, body: podSpec('web', nodeName) });
    publish(pod, 1, 'Pending');
    publish(pod, 2, 'Running');
    const got = await waitFor('phase Running', async () => {
      const p = await core.readNamespacedPod({ namespace, name: 'web' });
      return p.status?.phase === 'Running' ? p : undefined;
    });
    expect(got.status?.podIP).toBe('172.17.0.9');
    expect(got.status?.hostIP).toBe('192.0.2.2');
    expect(got.status?.qosClass).toBe('BestEffort');
    expect(got.status?.conditions?.find((c) => c.type === 'Ready')?.status).toBe('True');
    expect(got.status?.containerStatuses?.[0]).toMatchObject({ name: 'app', ready: true, containerID: 'docker://0123', imageID: 'docker://sha256:abc' });
    expect(got.status?.containerStatuses?.[0]?.state?.running?.startedAt).toEqual(new Date(Number(T0 / 1_000_000n)));

    publish(pod, 1, 'Failed'); // stale: dropped
    await new Promise((r) => setTimeout(r, 1000));
    expect((await core.readNamespacedPod({ namespace, name: 'web' })).status?.phase).toBe('Running');
  });

  it('status-reporter - a status someone else overwrote is written again by the reconcile within a period', async () => {
    await waitFor('web Running', async () => ((await core.readNamespacedPod({ namespace, name: 'web' })).status?.phase === 'Running' ? true : undefined));
    await kubectl(lab.adminKubeconfig, ['patch', 'pod', 'web', '-n', namespace, '--subresource=status', '--type=merge', '-p', '{"status":{"phase":"Unknown","podIP":"10.9.9.9","podIPs":[{"ip":"10.9.9.9"}]}}']);
    expect((await core.readNamespacedPod({ namespace, name: 'web' })).status?.phase).toBe('Unknown');
    const repaired = await waitFor('the status repaired', async () => {
      const p = await core.readNamespacedPod({ namespace, name: 'web' });
      return p.status?.phase === 'Running' ? p : undefined;
    }, 10_000);
    expect(repaired.status?.podIP).toBe('172.17.0.9');
    expect(repaired.status?.podIPs).toEqual([{ ip: '172.17.0.9' }]);
  });

  it('status-reporter - a deleted pod reported terminated is removed from the API server', async () => {
    const pod = await core.createNamespacedPod({ namespace, body: podSpec('gone', nodeName) });
    await core.deleteNamespacedPod({ namespace, name: 'gone', gracePeriodSeconds: 30 });
    // A graceful deletion waits for the node: the pod is still there, terminating.
    expect((await core.readNamespacedPod({ namespace, name: 'gone' })).metadata?.deletionTimestamp).toBeDefined();
    publish(pod, 1, 'Succeeded', true);
    await waitFor('the pod to be gone', async () => {
      const r = await kubectl(lab.adminKubeconfig, ['get', 'pod', '-n', namespace, 'gone']);
      return r.code !== 0 && /NotFound/.test(r.stderr) ? true : undefined;
    });
  });

  it('status-reporter - an update for a pod bound to another node is never written (not even tried) and does not stop the writer', async () => {
    const other = await core.createNamespacedPod({ namespace, body: podSpec('elsewhere', 'some-other-node') });
    publish(other, 1, 'Running');
    const mine = await core.createNamespacedPod({ namespace, body: podSpec('mine', nodeName) });
    publish(mine, 1, 'Running');
    await waitFor('my pod Running', async () => ((await core.readNamespacedPod({ namespace, name: 'mine' })).status?.phase === 'Running' ? true : undefined));
    expect((await core.readNamespacedPod({ namespace, name: 'elsewhere' })).status?.phase).toBe('Pending');
    // The pod cache binds no such pod to this node: no PATCH (the API server would answer 403).
    const tried = node.procs['status-reporter']!.logs.filter((l) => String(l['pod']).endsWith('/elsewhere') && l['msg'] !== 'pod status update refused');
    expect(tried).toEqual([]);
  });

  it('status-reporter - a message and reason a later status leaves out are removed from the API server (the kubelet\'s two-way patch)', async () => {
    const pod = await core.createNamespacedPod({ namespace, body: podSpec('msg', nodeName) });
    publish(pod, 1, 'Running', false, true, { reason: 'Flaky', message: 'the node is on fire' });
    await waitFor('the message shown', async () => ((await core.readNamespacedPod({ namespace, name: 'msg' })).status?.message === 'the node is on fire' ? true : undefined));
    publish(pod, 2, 'Running');
    const after = await waitFor('the message gone', async () => {
      const p = await core.readNamespacedPod({ namespace, name: 'msg' });
      return p.status?.message === undefined ? p : undefined;
    });
    expect(after.status?.reason).toBeUndefined();
    expect(after.status?.phase).toBe('Running');
  });

  it('status-reporter - forged updates (terminated for a pod not being deleted, version 2^64-1, Failed with its container running) change nothing; the next genuine one is written', async () => {
    const pod = await core.createNamespacedPod({ namespace, body: podSpec('target', nodeName) });
    publish(pod, 10, 'Running');
    await waitFor('target Running', async () => ((await core.readNamespacedPod({ namespace, name: 'target' })).status?.phase === 'Running' ? true : undefined));
    const logs = node.procs['status-reporter']!.logs;
    // The stream keeps a pod's latest status only: each forged update is read before the
    // next one is published (a burst on one pod's subject is read as its newest).
    publish(pod, 2n ** 64n - 1n, 'Failed');
    await waitFor('the version 2^64-1 refused', async () => (logs.some((l) => l['msg'] === 'pod status update refused' && l['reason'] === 'version-ahead' && String(l['pod']).endsWith('/target')) ? true : undefined));
    publish(pod, 11, 'Succeeded', true);
    // Read in stream order: once another pod's later status is written, the terminated one was read.
    const marker = await core.createNamespacedPod({ namespace, body: podSpec('marker', nodeName) });
    publish(marker, 1, 'Running');
    await waitFor('marker Running', async () => ((await core.readNamespacedPod({ namespace, name: 'marker' })).status?.phase === 'Running' ? true : undefined));
    publish(pod, 12, 'Failed', false, true);
    await waitFor('Failed held', async () => (logs.some((l) => l['msg'] === 'terminal phase held: the pod\'s containers could still run' && String(l['pod']).endsWith('/target')) ? true : undefined));
    await new Promise((r) => setTimeout(r, 3000)); // beyond a reconcile period (2 s here)
    const after = await core.readNamespacedPod({ namespace, name: 'target' });
    expect(after.metadata?.uid).toBe(pod.metadata!.uid);
    expect(after.status?.phase).toBe('Running');
    // The producer's next status: the forged ones did not take its version.
    publish(pod, 13, 'Pending');
    await waitFor('target Pending', async () => ((await core.readNamespacedPod({ namespace, name: 'target' })).status?.phase === 'Pending' ? true : undefined));
  });
});
