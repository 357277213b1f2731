import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KubeConfig, Watch, type CoreV1Api, type V1ContainerStatus, type V1Pod } from '@kubernetes/client-node';
import { labEnv, podTestNames, runCommand, startPodTestNode, waitFor } from '@splitlet/testing';

// The kubelet's container garbage collection on a splitlet node, as a user sees it:
// Docker keeps a bounded number of dead containers per pod container, while the pod
// status (restartCount, lastState) reads as it would without a collection. The
// collection runs every 500 ms here (60 s by default).
const names = podTestNames('e2e-gc');
const { namespace } = names;
const GC_PERIOD_MS = 500;

/** The IDs of the Docker containers (running or not) of one container of a pod. */
const dockerContainers = async (uid: string, container: string) =>
  (await runCommand('docker', ['ps', '-aq', '--no-trunc', '--filter', `label=io.kubernetes.pod.uid=${uid}`, '--filter', `label=io.kubernetes.container.name=${container}`])).stdout
    .split('\n')
    .filter(Boolean);
const dockerName = async (id: string) => (await runCommand('docker', ['inspect', '--format', '{{.Name}}', id])).stdout.trim();
const idOf = (containerID: string | undefined) => (containerID ?? '').replace('docker://', '');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Every status of one pod's first app container, as a watching admin receives them (JSON: times are strings). */
async function watchContainerStatuses(namespace: string, name: string): Promise<{ seen: V1ContainerStatus[]; stop: () => void }> {
  const kc = new KubeConfig();
  kc.loadFromFile(labEnv().adminKubeconfig);
  const seen: V1ContainerStatus[] = [];
  const controller = await new Watch(kc).watch(
    `/api/v1/namespaces/${namespace}/pods`,
    { fieldSelector: `metadata.name=${name}` },
    (type, obj: V1Pod) => {
      const cs = obj.status?.containerStatuses?.[0];
      if ((type === 'ADDED' || type === 'MODIFIED') && cs) seen.push(cs);
    },
    () => undefined,
  );
  return { seen, stop: () => controller.abort() };
}

describe('container garbage collection on a splitlet node', () => {
  let core: CoreV1Api;
  let stopNode: () => Promise<void>;
  const read = (name: string) => core.readNamespacedPod({ namespace, name });
  const podOf = (name: string, restartPolicy: string, command: string[], extra: Partial<V1Pod['spec']> = {}): V1Pod => ({
    metadata: { name, namespace },
    spec: { nodeName: names.nodeName, restartPolicy, terminationGracePeriodSeconds: 2, containers: [{ name: 'app', image: 'splitlet-lab/testbox:1', command }], ...extra },
  });

  beforeAll(async () => {
    ({ core, stop: stopNode } = await startPodTestNode(names, { env: { SPLITLET_CONTAINER_GC_PERIOD_MS: String(GC_PERIOD_MS) } }));
  });
  afterAll(async () => {
    await stopNode?.();
  });

  it('pod-sync - a crash-looping pod keeps at most 2 Docker containers for its app container; restartCount counts on, lastState is the last exit, still in Docker', async () => {
    const created = await core.createNamespacedPod({
      namespace,
      body: podOf('crash', 'Always', ['sh', '-c', 'echo boom; exit 3'], { initContainers: [{ name: 'init', image: 'splitlet-lab/testbox:1', command: ['sh', '-c', 'echo ready'] }] }),
    });
    const uid = created.metadata!.uid!;
    const watched = await watchContainerStatuses(namespace, 'crash');
    // Restarted at once, then after 10 s and 20 s of back-off: without a collection 4 app containers by then.
    let most = 0;
    const pod = await waitFor(
      'crash in CrashLoopBackOff after 3 restarts',
      async () => {
        most = Math.max(most, (await dockerContainers(uid, 'app')).length);
        const p = await read('crash');
        const cs = p.status?.containerStatuses?.[0];
        return cs?.state?.waiting?.reason === 'CrashLoopBackOff' && (cs.restartCount ?? 0) >= 3 ? p : undefined;
      },
      200_000,
      500,
    );
    const cs = pod.status!.containerStatuses![0]!;
    expect(most).toBeGreaterThan(0);
    expect(most).toBeLessThanOrEqual(2);
    // Collections keep running: the newest dead instance is the one left, and it is the lastState.
    await sleep(3 * GC_PERIOD_MS);
    const app = await dockerContainers(uid, 'app');
    expect(app).toEqual([idOf(cs.lastState?.terminated?.containerID)]);
    expect(cs.lastState?.terminated).toMatchObject({ exitCode: 3, reason: 'Error' });
    // Its Docker name carries the attempt, which is the restartCount.
    expect(await dockerName(app[0]!)).toMatch(new RegExp(`^/k8s_app_crash_${namespace}_${uid}_${cs.restartCount}$`));
    expect(cs.containerID).toBe(cs.lastState?.terminated?.containerID);
    // The completed init container keeps its one instance; it did not run again.
    const init = pod.status!.initContainerStatuses![0]!;
    expect(init).toMatchObject({ name: 'init', restartCount: 0, ready: true });
    expect(init.state?.terminated).toMatchObject({ exitCode: 0, reason: 'Completed' });
    expect(await dockerContainers(uid, 'init')).toEqual([idOf(init.containerID)]);
    // What the status shows still holds after the collections.
    const again = (await read('crash')).status!.containerStatuses![0]!;
    expect(again.restartCount).toBeGreaterThanOrEqual(cs.restartCount);
    if (again.restartCount === cs.restartCount) expect(again.lastState).toEqual(cs.lastState);
    // As `kubectl get pod -w` shows it, the crash loop only moves forward: restartCount,
    // then the last exit's time, never back to an older instance (the collection
    // removed those).
    watched.stop();
    const steps = watched.seen.map((x) => ({ restartCount: x.restartCount, lastExit: x.lastState?.terminated ? Date.parse(String(x.lastState.terminated.finishedAt)) : -1 }));
    const back = steps.filter((x, i) => i > 0 && (x.restartCount < steps[i - 1]!.restartCount || (x.restartCount === steps[i - 1]!.restartCount && x.lastExit < steps[i - 1]!.lastExit)));
    expect(steps.length).toBeGreaterThan(3);
    expect(back, JSON.stringify(watched.seen.map((x) => [x.restartCount, x.state, x.lastState]))).toEqual([]);
  }, 240_000);

  it('pod-sync - a completed restartPolicy Never pod keeps its one exited container while the pod exists', async () => {
    const created = await core.createNamespacedPod({ namespace, body: podOf('once', 'Never', ['sh', '-c', 'echo done']) });
    const uid = created.metadata!.uid!;
    await waitFor('once Succeeded', async () => ((await read('once')).status?.phase === 'Succeeded' ? true : undefined), 60_000);
    // Several collections, and a resync (2 s) that reports the pod again after them.
    await sleep(5000);
    const cs = (await read('once')).status!.containerStatuses![0]!;
    expect(cs.state?.terminated).toMatchObject({ exitCode: 0, reason: 'Completed' });
    expect(await dockerContainers(uid, 'app')).toEqual([idOf(cs.containerID)]);
  });

  it('pod-sync - a container that failed, then exited 0 for good: its failed instance is collected and the status still shows it as lastState', async () => {
    // restartPolicy OnFailure: the first run fails (and leaves a mark in an emptyDir), the
    // second one (the first restart comes at once) succeeds; the pod is Succeeded.
    const script = 'if [ -f /work/failed ]; then echo ok; exit 0; fi; touch /work/failed; exit 5';
    const body = podOf('second', 'OnFailure', ['sh', '-c', script], { volumes: [{ name: 'work', emptyDir: {} }] });
    body.spec!.containers[0]!.volumeMounts = [{ name: 'work', mountPath: '/work' }];
    const created = await core.createNamespacedPod({ namespace, body });
    const uid = created.metadata!.uid!;
    const pod = await waitFor('second Succeeded', async () => {
      const p = await read('second');
      return p.status?.phase === 'Succeeded' ? p : undefined;
    }, 90_000);
    // Several collections, and a resync (2 s) that reports the pod again after them.
    await sleep(5000);
    const cs = (await read('second')).status!.containerStatuses![0]!;
    expect(cs.restartCount).toBe(1);
    expect(cs.state?.terminated).toMatchObject({ exitCode: 0, reason: 'Completed' });
    expect(cs.lastState?.terminated).toMatchObject({ exitCode: 5, reason: 'Error' });
    // Only the newest instance is left in Docker; the lastState's is gone, its record stays.
    expect(await dockerContainers(uid, 'app')).toEqual([idOf(cs.containerID)]);
    expect(cs.lastState?.terminated?.containerID).not.toBe(cs.containerID);
    expect(pod.status?.containerStatuses?.[0]?.lastState).toEqual(cs.lastState);
  });
});
