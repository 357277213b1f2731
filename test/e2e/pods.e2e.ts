import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CoreV1Api, KubeConfig, type V1Pod } from '@kubernetes/client-node';
import { jetstreamManager } from '@nats-io/jetstream';
import { podStatusSubject, statusStreamName } from '@splitlet/bus';
import { connectToLabBusAsOperator, kubectl, labEnv, podTestNames, runCommand, startPodTestNode, waitFor, type PodTestNode, type TestNode } from '@splitlet/testing';

// Pods bound to a splitlet node, end to end: created through the API server, run by
// pod-sync through runtime-executor in Docker, reported by status-reporter; read back
// as `kubectl get pod -o yaml` shows them and as Docker runs them.
const lab = labEnv();
const { nodeName, namespace } = podTestNames('e2e-pods');
const admin = new KubeConfig();
admin.loadFromFile(lab.adminKubeconfig);
const core = admin.makeApiClient(CoreV1Api);

const podOf = (name: string, command: string[], restartPolicy = 'Always', extra: Partial<V1Pod['spec']> = {}): V1Pod => ({
  metadata: { name, namespace },
  spec: { nodeName, restartPolicy, terminationGracePeriodSeconds: 5, containers: [{ name: 'app', image: 'splitlet-lab/testbox:1', command }], ...extra },
});
const read = (name: string) => core.readNamespacedPod({ namespace, name });
const dockerOf = async (containerID: string) => JSON.parse((await runCommand('docker', ['inspect', containerID.replace('docker://', '')])).stdout)[0];

describe('pods on a splitlet node', () => {
  let t: PodTestNode;
  let node: TestNode;
  beforeAll(async () => {
    t = await startPodTestNode({ nodeName, namespace }, { env: { SPLITLET_STATUS_RECONCILE_MS: '2000' } });
    node = t.node;
  });
  afterAll(async () => {
    await t?.stop();
  });

  it('pod-sync - a pod runs: Running, Ready, its pod IP, its container running in Docker in the sandbox', async () => {
    await core.createNamespacedPod({ namespace, body: podOf('web', ['sh', '-c', 'echo hello; sleep 3600']) });
    const pod = await waitFor('web Running and Ready', async () => {
      const p = await read('web');
      return p.status?.phase === 'Running' && p.status.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ? p : undefined;
    }, 60_000);
    const s = pod.status!;
    expect(s.podIP).toMatch(/^\d+\.\d+\.\d+\.\d+$/);
    expect(s.hostIP).toMatch(/^\d+\.\d+\.\d+\.\d+$/);
    expect(s.qosClass).toBe('BestEffort');
    expect(s.startTime).toBeDefined();
    // PodScheduled True as the kubelet sets it on every status (a pod bound by nodeName never met the scheduler);
    // no condition keeps a reason from before it turned True.
    expect(s.conditions?.map((c) => [c.type, c.status, c.reason ?? '']).sort()).toEqual(
      [['ContainersReady', 'True', ''], ['Initialized', 'True', ''], ['PodReadyToStartContainers', 'True', ''], ['PodScheduled', 'True', ''], ['Ready', 'True', '']].sort(),
    );
    const cs = s.containerStatuses?.[0];
    expect(cs).toMatchObject({ name: 'app', ready: true, started: true, restartCount: 0, image: 'splitlet-lab/testbox:1' });
    expect(cs?.containerID).toMatch(/^docker:\/\/[0-9a-f]{64}$/);
    expect(cs?.imageID).toMatch(/^docker:\/\/sha256:[0-9a-f]{64}$/);
    expect(cs?.state?.running?.startedAt).toBeDefined();
    // As a 1.36 kubelet shows them: the mounts by name (the API's default token volume
    // is read-only, not recursively), and resources (none asked for) on a running container.
    expect(cs?.resources).toEqual({});
    expect(cs?.volumeMounts).toEqual(
      (pod.spec?.containers[0]?.volumeMounts ?? []).map((m) => ({ name: m.name, mountPath: m.mountPath, ...(m.readOnly ? { readOnly: true, recursiveReadOnly: 'Disabled' } : {}) })),
    );
    expect(cs?.volumeMounts?.some((m) => m.mountPath === '/var/run/secrets/kubernetes.io/serviceaccount' && m.readOnly)).toBe(true);
    const inspected = await dockerOf(cs!.containerID!);
    expect(inspected.State.Running).toBe(true);
    expect(inspected.Config.Labels).toMatchObject({ 'io.kubernetes.pod.uid': pod.metadata?.uid, 'io.kubernetes.container.name': 'app' });
    expect(inspected.HostConfig.NetworkMode).toMatch(/^container:[0-9a-f]{64}$/);
    // Running is reported once Docker started the process, not once it wrote: a BestEffort
    // container (cpu shares 2) beside busy ones may take seconds to get the CPU for its echo.
    const logged = async () => (await runCommand('docker', ['logs', cs!.containerID!.replace('docker://', '')])).stdout;
    await waitFor('web wrote its line', async () => ((await logged()) ? true : undefined), 30_000);
    expect(await logged()).toBe('hello\n');
  });

  it('status-reporter - a running pod\'s status is not written again: syncs and reconciles find it in place (no churn)', async () => {
    const before = await read('web');
    // Several pod syncs (2 s) and status reconciles (2 s) later, the object is the same.
    await new Promise((r) => setTimeout(r, 7_000));
    const after = await read('web');
    expect(after.metadata?.resourceVersion).toBe(before.metadata?.resourceVersion);
    expect(node.procs['status-reporter']!.logs.filter((l) => String(l['msg']).includes('another status'))).toEqual([]);
  });

  it('pod-sync - the pod\'s Events as the kubelet records them: Pulled, Created, Started, for the container', async () => {
    const events = await waitFor('web events', async () => {
      const list = await core.listNamespacedEvent({ namespace, fieldSelector: 'involvedObject.name=web' });
      return list.items.length >= 3 ? list.items : undefined;
    }, 20_000);
    const seen = events.map((e) => [e.type, e.reason, e.message, e.involvedObject.fieldPath, e.source?.component, e.source?.host]);
    expect(seen).toEqual(
      expect.arrayContaining([
        ['Normal', 'Pulled', 'Container image "splitlet-lab/testbox:1" already present on machine and can be accessed by the pod', 'spec.containers{app}', 'kubelet', nodeName],
        ['Normal', 'Created', 'Container created', 'spec.containers{app}', 'kubelet', nodeName],
        ['Normal', 'Started', 'Container started', 'spec.containers{app}', 'kubelet', nodeName],
      ]),
    );
  });

  it('pod-sync - the container sees its env: values, $(VAR) expansion, downward API fields; args expanded', async () => {
    const body = podOf('env', ['sh', '-c', 'echo "$GREETING|$POD|$NS|$NODE|$IP|$MEM"; echo "$0|$1"', '$(GREETING)', '$$(GREETING)']);
    body.spec!.restartPolicy = 'Never';
    body.spec!.containers[0]!.resources = { limits: { memory: '64Mi' } };
    body.spec!.containers[0]!.env = [
      { name: 'NAME', value: 'world' },
      { name: 'GREETING', value: 'hello $(NAME) $(MISSING)' },
      { name: 'POD', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
      { name: 'NS', valueFrom: { fieldRef: { fieldPath: 'metadata.namespace' } } },
      { name: 'NODE', valueFrom: { fieldRef: { fieldPath: 'spec.nodeName' } } },
      { name: 'IP', valueFrom: { fieldRef: { fieldPath: 'status.podIP' } } },
      { name: 'MEM', valueFrom: { resourceFieldRef: { resource: 'limits.memory', divisor: '1Mi' } } },
    ];
    await core.createNamespacedPod({ namespace, body });
    const pod = await waitFor('env Succeeded', async () => {
      const p = await read('env');
      return p.status?.phase === 'Succeeded' ? p : undefined;
    }, 60_000);
    const logs = await runCommand('docker', ['logs', pod.status!.containerStatuses![0]!.containerID!.replace('docker://', '')]);
    expect(logs.stdout).toBe(`hello world $(MISSING)|env|${namespace}|${nodeName}|${pod.status?.podIP}|64\nhello world $(MISSING)|$(GREETING)\n`);
  });

  it('pod-sync - init containers run one at a time, in order, before the app container', async () => {
    const body = podOf('init', ['sleep', '3600']);
    body.spec!.initContainers = [
      { name: 'first', image: 'splitlet-lab/testbox:1', command: ['sleep', '2'] },
      { name: 'second', image: 'splitlet-lab/testbox:1', command: ['sh', '-c', 'exit 0'] },
    ];
    await core.createNamespacedPod({ namespace, body });
    const initializing = await waitFor('init initializing', async () => {
      const p = await read('init');
      return p.status?.initContainerStatuses?.[0]?.state?.running ? p : undefined;
    }, 30_000);
    expect(initializing.status?.phase).toBe('Pending');
    expect(initializing.status?.initContainerStatuses?.[1]?.state?.waiting?.reason).toBe('PodInitializing');
    expect(initializing.status?.containerStatuses?.[0]?.state?.waiting?.reason).toBe('PodInitializing');
    expect(initializing.status?.conditions?.find((c) => c.type === 'Initialized')).toMatchObject({ status: 'False', reason: 'ContainersNotInitialized', message: 'containers with incomplete status: [first second]' });
    const pod = await waitFor('init Running', async () => {
      const p = await read('init');
      return p.status?.phase === 'Running' && p.status.containerStatuses?.[0]?.state?.running ? p : undefined;
    }, 60_000);
    const [first, second] = pod.status!.initContainerStatuses!;
    expect(first?.state?.terminated).toMatchObject({ exitCode: 0, reason: 'Completed' });
    expect(second?.state?.terminated).toMatchObject({ exitCode: 0, reason: 'Completed' });
    expect(new Date(first!.state!.terminated!.finishedAt!).getTime()).toBeLessThanOrEqual(new Date(second!.state!.terminated!.startedAt!).getTime());
    expect(new Date(second!.state!.terminated!.finishedAt!).getTime()).toBeLessThanOrEqual(new Date(pod.status!.containerStatuses![0]!.state!.running!.startedAt!).getTime());
    expect(pod.status?.conditions?.find((c) => c.type === 'Initialized')?.status).toBe('True');
  });

  it('pod-sync - a failed init container with restartPolicy Never fails the pod; the app never starts', async () => {
    const body = podOf('init-fail', ['sleep', '3600'], 'Never');
    body.spec!.initContainers = [{ name: 'check', image: 'splitlet-lab/testbox:1', command: ['sh', '-c', 'exit 4'] }];
    await core.createNamespacedPod({ namespace, body });
    const pod = await waitFor('init-fail Failed', async () => {
      const p = await read('init-fail');
      return p.status?.phase === 'Failed' ? p : undefined;
    }, 60_000);
    expect(pod.status?.initContainerStatuses?.[0]?.state?.terminated).toMatchObject({ exitCode: 4, reason: 'Error' });
    expect(pod.status?.containerStatuses?.[0]?.state?.waiting?.reason).toBe('PodInitializing');
  });

  it('pod-sync - a container that keeps failing: restarted, then CrashLoopBackOff with its last exit', async () => {
    await core.createNamespacedPod({ namespace, body: podOf('crash', ['sh', '-c', 'echo boom; exit 3']) });
    const pod = await waitFor('crash in CrashLoopBackOff after a restart', async () => {
      const p = await read('crash');
      const cs = p.status?.containerStatuses?.[0];
      return cs?.state?.waiting?.reason === 'CrashLoopBackOff' && (cs.restartCount ?? 0) >= 1 ? p : undefined;
    }, 60_000);
    const cs = pod.status!.containerStatuses![0]!;
    expect(pod.status?.phase).toBe('Running');
    expect(cs.ready).toBe(false);
    expect(cs.lastState?.terminated).toMatchObject({ exitCode: 3, reason: 'Error' });
    expect(cs.state?.waiting?.message).toMatch(/^back-off \d+s restarting failed container=app pod=crash_e2e-pods-[0-9a-f]+\(.+\)$/);
    expect(pod.status?.conditions?.find((c) => c.type === 'Ready')).toMatchObject({ status: 'False', reason: 'ContainersNotReady', message: 'containers with unready status: [app]' });
    const backoff = await waitFor('a BackOff event', async () => {
      const list = await core.listNamespacedEvent({ namespace, fieldSelector: 'involvedObject.name=crash,reason=BackOff' });
      return list.items[0];
    }, 30_000);
    expect(backoff).toMatchObject({ type: 'Warning', message: `Back-off restarting failed container app in pod crash_${namespace}(${pod.metadata?.uid})` });
  });

  it('pod-sync - restartPolicy Never and exit 0: Succeeded, the container terminated Completed', async () => {
    await core.createNamespacedPod({ namespace, body: podOf('once', ['sh', '-c', 'echo done'], 'Never') });
    const pod = await waitFor('once Succeeded', async () => {
      const p = await read('once');
      return p.status?.phase === 'Succeeded' ? p : undefined;
    }, 60_000);
    expect(pod.status?.containerStatuses?.[0]?.state?.terminated).toMatchObject({ exitCode: 0, reason: 'Completed' });
    expect(pod.status?.conditions?.find((c) => c.type === 'Ready')).toMatchObject({ status: 'False', reason: 'PodCompleted' });
    // A finished pod's sandbox is stopped, as the kubelet does; it is not started again.
    const done = await waitFor('once: sandbox stopped', async () => {
      const p = await read('once');
      return p.status?.conditions?.find((c) => c.type === 'PodReadyToStartContainers')?.status === 'False' ? p : undefined;
    }, 30_000);
    expect(done.status?.phase).toBe('Succeeded');
    // It keeps the IP it had (kubelet.go SyncTerminatingPod copies it; kubernetes#125404):
    // the stopped sandbox has none to give.
    expect(pod.status?.podIP).toMatch(/^\d+\.\d+\.\d+\.\d+$/);
    expect(done.status?.podIP).toBe(pod.status?.podIP);
    expect(done.status?.podIPs).toEqual([{ ip: pod.status?.podIP }]);
    const pause = await runCommand('docker', ['ps', '-q', '--filter', `label=io.kubernetes.pod.uid=${done.metadata?.uid}`]);
    expect(pause.stdout.trim()).toBe('');
  });

  it('pod-sync - activeDeadlineSeconds: Failed with DeadlineExceeded, the containers stopped, the pod kept', async () => {
    // The deadline is set once the container runs (it may be set on a running pod): set
    // at creation, a loaded node may reach it before the container has started, and then
    // there is no running container to stop (the pod fails all the same).
    await core.createNamespacedPod({ namespace, body: podOf('deadline', ['sleep', '3600']) });
    await waitFor('deadline Running', async () => ((await read('deadline')).status?.containerStatuses?.[0]?.state?.running ? true : undefined), 60_000);
    const patched = await kubectl(lab.adminKubeconfig, ['-n', namespace, 'patch', 'pod', 'deadline', '--type=merge', '-p', '{"spec":{"activeDeadlineSeconds":3}}']);
    expect(patched.code, patched.stderr).toBe(0);
    const pod = await waitFor('deadline Failed', async () => {
      const p = await read('deadline');
      return p.status?.phase === 'Failed' ? p : undefined;
    }, 60_000);
    expect(pod.status).toMatchObject({ reason: 'DeadlineExceeded', message: 'Pod was active on the node longer than the specified deadline' });
    expect(pod.status?.containerStatuses?.[0]?.state?.terminated).toBeDefined();
    const inspected = await dockerOf(pod.status!.containerStatuses![0]!.containerID!);
    expect(inspected.State.Running).toBe(false);
  });

  it('pod-sync - deleting a running pod stops its containers and the pod is gone', async () => {
    const created = await core.createNamespacedPod({ namespace, body: podOf('bye', ['sleep', '3600']) });
    await waitFor('bye Running', async () => ((await read('bye')).status?.phase === 'Running' ? true : undefined), 60_000);
    await core.deleteNamespacedPod({ namespace, name: 'bye' });
    await waitFor('bye gone', async () => {
      const r = await kubectl(lab.adminKubeconfig, ['get', 'pod', '-n', namespace, 'bye']);
      return r.code !== 0 && /NotFound/.test(r.stderr) ? true : undefined;
    }, 60_000);
    // Nothing of it runs once it is gone (the kubelet deletes a pod whose containers have
    // stopped); the stopped ones are removed right after, as the kubelet's GC removes a
    // deleted pod's containers at once.
    const ofPod = async (all: boolean) => (await runCommand('docker', ['ps', '-q', ...(all ? ['-a'] : []), '--filter', `label=io.kubernetes.pod.uid=${created.metadata?.uid}`])).stdout.trim();
    expect(await ofPod(false)).toBe('');
    await waitFor('its stopped containers removed', async () => ((await ofPod(true)) === '' ? true : undefined), 10_000);
    const killing = await core.listNamespacedEvent({ namespace, fieldSelector: 'involvedObject.name=bye,reason=Killing' });
    expect(killing.items[0]).toMatchObject({ type: 'Normal', message: 'Stopping container app' });
    // pod-sync let go of it: its cleanup ran after its termination (not beside it, removing
    // the same sandbox: "removal already in progress"), and purged its last status from the
    // node's status stream, where a status-reporter coming back would otherwise read it.
    const uid = created.metadata!.uid!;
    await waitFor('its last status purged from the status stream', async () => {
      const nc = await connectToLabBusAsOperator();
      try {
        const jsm = await jetstreamManager(nc);
        const last = await jsm.streams.getMessage(statusStreamName(nodeName), { last_by_subj: podStatusSubject(nodeName, uid) }).catch(() => null);
        return last === null ? true : undefined;
      } finally {
        await nc.close();
      }
    }, 10_000);
    expect(node.procs['pod-sync']!.logs.filter((l) => l['msg'] === 'cleanup failed' && l['uid'] === uid)).toEqual([]);
  });

  it('pod-sync - an image that cannot be pulled: waiting ErrImagePull (then ImagePullBackOff), other pods unaffected', async () => {
    await core.createNamespacedPod({ namespace, body: { ...podOf('nope', ['sleep', '1']), spec: { ...podOf('nope', ['sleep', '1']).spec!, containers: [{ name: 'app', image: 'splitlet-lab/does-not-exist:1' }] } } });
    const pod = await waitFor('nope waiting ErrImagePull', async () => {
      const p = await read('nope');
      // ErrImagePull, then ImagePullBackOff until the next pull (the status may show either).
      return ['ErrImagePull', 'ImagePullBackOff'].includes(p.status?.containerStatuses?.[0]?.state?.waiting?.reason ?? '') ? p : undefined;
    }, 60_000);
    expect(pod.status?.phase).toBe('Pending');
    expect((await read('web')).status?.phase).toBe('Running');
    // (Events travel apart from the status: they may be written a moment after it.)
    const failed = await waitFor('both Failed Events', async () => {
      const messages = (await core.listNamespacedEvent({ namespace, fieldSelector: 'involvedObject.name=nope,reason=Failed' })).items.map((e) => e.message ?? '');
      return messages.includes('Error: ErrImagePull') && messages.some((m) => m.startsWith('Failed to pull image "splitlet-lab/does-not-exist:1": ')) ? messages : undefined;
    }, 30_000);
    expect(failed).toContain('Error: ErrImagePull');
  });
});
