import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SchedulingV1Api, type CoreV1Api, type V1Pod } from '@kubernetes/client-node';
import { KubeConfig } from '@kubernetes/client-node';
import { labEnv, labOperatorCredsFile, podTestNames, runCommand, startPodTestNode, waitFor, type TestNode } from '@splitlet/testing';

// The kubelet's graceful node shutdown, asked as an operator does: `npm run node:drain`'s
// tool (services/pod-sync/src/drain.ts) with the lab's operator identity. The node runs
// two priority groups (SPLITLET_SHUTDOWN_GRACE_PERIOD_BY_POD_PRIORITY): pods below
// 100000 get 6 s, the ones at or above it 4 s and stop only after the lower group did.
// Its status is updated every 10 min only: a NotReady node within 30 s is the shutdown's
// own status sync.
const names = podTestNames('e2e-shutdown');
const { nodeName, namespace } = names;
const HIGH = `${namespace}-high`;
const MESSAGE = 'Pod was terminated in response to imminent node shutdown.';
let core: CoreV1Api;
let scheduling: SchedulingV1Api;
let node: TestNode;
let stopNode: (() => Promise<void>) | undefined;

/** Exits 2 s after SIGTERM: the group it is in holds the next one that long. */
const podOf = (name: string, priorityClassName?: string): V1Pod => ({
  metadata: { name, namespace },
  spec: {
    nodeName,
    terminationGracePeriodSeconds: 30,
    ...(priorityClassName ? { priorityClassName } : {}),
    containers: [{ name: 'app', image: 'splitlet-lab/testbox:1', command: ['sh', '-c', 'trap "sleep 2; exit 0" TERM; sleep 3600 & wait; sleep 2'] }],
  },
});
const read = (name: string) => core.readNamespacedPod({ namespace, name });
const ready = async () => (await core.readNode({ name: nodeName })).status?.conditions?.find((c) => c.type === 'Ready');

/** The drain tool, as `npm run node:drain` runs it, for this node. */
async function drain(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const lab = labEnv();
  const creds = await labOperatorCredsFile();
  return runCommand('node_modules/.bin/tsx', [
    '--tsconfig',
    'tsconfig.base.json',
    'services/pod-sync/src/drain.ts',
    '--node',
    nodeName,
    '--servers',
    lab.natsUrl,
    ...(creds ? ['--creds', creds] : []),
    ...(lab.natsCa ? ['--ca', lab.natsCa] : []),
    ...args,
  ]);
}

/** Docker's own end of the pod's app container (nanoseconds), by its pod UID label. */
async function finishedAt(pod: V1Pod): Promise<string> {
  const ids = (await runCommand('docker', ['ps', '-aq', '--filter', `label=io.kubernetes.pod.uid=${pod.metadata!.uid}`, '--filter', 'label=io.kubernetes.container.name=app'])).stdout.split('\n').filter(Boolean);
  expect(ids).toHaveLength(1);
  return (await runCommand('docker', ['inspect', '-f', '{{.State.FinishedAt}}', ids[0]!])).stdout.trim();
}

describe('graceful node shutdown (npm run node:drain)', () => {
  beforeAll(async () => {
    const admin = new KubeConfig();
    admin.loadFromFile(labEnv().adminKubeconfig);
    scheduling = admin.makeApiClient(SchedulingV1Api);
    await scheduling.createPriorityClass({ body: { metadata: { name: HIGH }, value: 100_000, description: 'e2e node shutdown: the later group' } });
    ({ core, node, stop: stopNode } = await startPodTestNode(names, {
      env: {
        SPLITLET_SHUTDOWN_GRACE_PERIOD_BY_POD_PRIORITY: '0=6,100000=4',
        SPLITLET_NODE_STATUS_UPDATE_FREQUENCY_MS: '600000',
      },
    }));
  });
  afterAll(async () => {
    await stopNode?.();
    await scheduling?.deletePriorityClass({ name: HIGH }).catch(() => undefined);
  });

  it('pod-sync, registrar - the node turns NotReady ("node is shutting down"), the lower priority group stops first, each pod Failed: Terminated with DisruptionTarget; new pods are refused (NodeShutdown), also after pod-sync restarts; a cancellation admits pods again', async () => {
    await core.createNamespacedPod({ namespace, body: podOf('low') });
    await core.createNamespacedPod({ namespace, body: podOf('high', HIGH) });
    for (const name of ['low', 'high']) await waitFor(`${name} Running`, async () => ((await read(name)).status?.phase === 'Running' ? true : undefined), 60_000);
    expect((await ready())?.status).toBe('True');

    const drained = await drain();
    expect(drained.code, drained.stderr).toBe(0);
    expect(drained.stdout).toMatch(new RegExp(`node ${nodeName} is shutting down`));
    expect(drained.stdout).toMatch(/priority ≥ 0: 6 s, 1 pod\(s\) terminated; priority ≥ 100000: 4 s, 1 pod\(s\) terminated/);
    expect(drained.stdout).toMatch(/every pod is terminated; the host may shut down/);

    // The Node: NotReady at once (its status is otherwise written every 10 min), and the shutdown Event.
    await waitFor('the node NotReady', async () => ((await ready())?.status === 'False' ? true : undefined), 30_000);
    expect(await ready()).toMatchObject({ status: 'False', reason: 'KubeletNotReady', message: 'node is shutting down' });
    const event = await waitFor('the NodeShutdown Event', async () => (await core.listNamespacedEvent({ namespace: 'default', fieldSelector: `involvedObject.name=${nodeName},reason=NodeShutdown` })).items[0], 30_000);
    expect(event).toMatchObject({ type: 'Normal', message: 'Shutdown manager detected shutdown event', involvedObject: { kind: 'Node', name: nodeName } });

    // Each pod as the kubelet leaves it.
    const low = await waitFor('low Failed', async () => ((await read('low')).status?.phase === 'Failed' ? read('low') : undefined), 30_000);
    const high = await waitFor('high Failed', async () => ((await read('high')).status?.phase === 'Failed' ? read('high') : undefined), 30_000);
    for (const p of [low, high]) {
      expect(p.status).toMatchObject({ phase: 'Failed', reason: 'Terminated', message: MESSAGE });
      expect(p.status?.conditions?.find((c) => c.type === 'DisruptionTarget')).toMatchObject({ status: 'True', reason: 'TerminationByKubelet', message: MESSAGE });
      expect(p.status?.containerStatuses?.[0]?.state?.terminated).toMatchObject({ exitCode: 0 });
    }
    // The higher group was stopped only once the lower one had: asked to stop then, it ends
    // 2 s after (Docker's times); stopped together, both would end within the same moment.
    const [lowEnd, highEnd] = [await finishedAt(low), await finishedAt(high)];
    expect(new Date(highEnd).getTime() - new Date(lowEnd).getTime()).toBeGreaterThanOrEqual(1_500);

    // A pod bound now is refused, as the kubelet's shutdown admit handler refuses it.
    await core.createNamespacedPod({ namespace, body: podOf('late') });
    const late = await waitFor('late refused', async () => ((await read('late')).status?.phase === 'Failed' ? read('late') : undefined), 30_000);
    expect(late.status).toMatchObject({ reason: 'NodeShutdown', message: 'Pod was rejected: Pod was rejected as the node is shutting down.' });
    expect(late.status?.containerStatuses ?? []).toEqual([]);
    const rejected = await waitFor('the rejection Event', async () => (await core.listNamespacedEvent({ namespace, fieldSelector: 'involvedObject.name=late,reason=NodeShutdown' })).items[0], 30_000);
    expect(rejected).toMatchObject({ type: 'Warning', message: 'Pod was rejected as the node is shutting down.' });

    // A restart of pod-sync is not the end of the shutdown: still refused.
    await node.stop('pod-sync');
    const podSync = await node.start('pod-sync');
    await podSync.waitForLog((l) => l['msg'] === 'watching the pods bound to this node');
    await core.createNamespacedPod({ namespace, body: podOf('after-restart') });
    const after = await waitFor('after-restart refused', async () => ((await read('after-restart')).status?.phase === 'Failed' ? read('after-restart') : undefined), 30_000);
    expect(after.status?.reason).toBe('NodeShutdown');

    // Cancelled: Ready again at once, and a new pod runs; the terminated ones stay Failed.
    const cancelled = await drain('--cancel');
    expect(cancelled.code, cancelled.stderr).toBe(0);
    expect(cancelled.stdout).toMatch(/shutdown cancelled; pods are admitted again/);
    await waitFor('the node Ready again', async () => ((await ready())?.status === 'True' ? true : undefined), 30_000);
    await core.createNamespacedPod({ namespace, body: podOf('back') });
    await waitFor('back Running', async () => ((await read('back')).status?.phase === 'Running' ? true : undefined), 60_000);
    expect((await read('low')).status?.phase).toBe('Failed');
    expect((await drain('--cancel')).stdout).toMatch(/was not shutting down/);
  });
});
