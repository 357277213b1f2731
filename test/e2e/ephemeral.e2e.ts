import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { V1ContainerStatus, V1Pod } from '@kubernetes/client-node';
import { kubectl, labBinary, labEnv, podTestNames, runCommand, startPodTestNode, waitFor, type PodTestNode } from '@splitlet/testing';

// Ephemeral containers (`kubectl debug`) and shared PID namespaces on a splitlet node,
// as the kubelet runs them: started once, never restarted, never ready, their own
// status list; with --target they see the target container's processes.
const lab = labEnv();
const { nodeName, namespace } = podTestNames('e2e-debug');
const k = (...args: string[]) => kubectl(lab.adminKubeconfig, ['-n', namespace, ...args]);

const pod = (name: string, containers: { name: string; script: string }[], extra: Partial<V1Pod['spec']> = {}): V1Pod => ({
  metadata: { name, namespace },
  spec: {
    nodeName,
    terminationGracePeriodSeconds: 1,
    containers: containers.map((c) => ({ name: c.name, image: 'splitlet-lab/testbox:1', command: ['sh', '-c', c.script] })),
    ...extra,
  },
});

describe('ephemeral containers and PID namespaces', () => {
  let t: PodTestNode;
  const read = (name: string) => t.core.readNamespacedPod({ namespace, name });
  const ephemeral = async (name: string, container: string): Promise<V1ContainerStatus | undefined> =>
    (await read(name)).status?.ephemeralContainerStatuses?.find((s) => s.name === container);

  beforeAll(async () => {
    t = await startPodTestNode({ nodeName, namespace }, { nodeApi: true });
    await t.core.createNamespacedPod({ namespace, body: pod('target', [{ name: 'other', script: 'exec sleep 3601' }, { name: 'app', script: 'exec sleep 3600' }]) });
    await waitFor('target running', async () => ((await read('target')).status?.containerStatuses?.every((c) => c.state?.running) ? true : undefined), 60_000);
  });
  afterAll(async () => {
    await t?.stop();
  });

  it('pod-sync - kubectl debug --target: the ephemeral container sees the target\'s processes only, runs once, is never ready; the pod stays Running', async () => {
    const debug = await k('debug', 'target', '--image=splitlet-lab/testbox:1', '--target=app', '-c', 'debugger', '--', 'sh', '-c', 'ps -o args');
    expect(debug.code, debug.stderr).toBe(0);
    const done = await waitFor('debugger terminated', async () => {
      const s = await ephemeral('target', 'debugger');
      return s?.state?.terminated ? s : undefined;
    }, 60_000);
    expect(done).toMatchObject({ name: 'debugger', image: 'splitlet-lab/testbox:1', ready: false, restartCount: 0, state: { terminated: { exitCode: 0, reason: 'Completed' } } });
    expect(done.started).toBeUndefined();
    expect(done.containerID).toMatch(/^docker:\/\/[0-9a-f]{64}$/);
    // The target's process namespace: its sleep, not the other container's.
    const logs = await k('logs', 'target', '-c', 'debugger');
    expect(logs.stdout).toContain('sleep 3600');
    expect(logs.stdout).not.toContain('sleep 3601');

    const p = await read('target');
    expect(p.status?.phase).toBe('Running');
    // containerStatuses by name, not in the spec's order (the kubelet's SortedContainerStatuses).
    expect(p.status?.containerStatuses?.map((c) => [c.name, c.restartCount, Boolean(c.state?.running)])).toEqual([
      ['app', 0, true],
      ['other', 0, true],
    ]);
    const events = (await t.core.listNamespacedEvent({ namespace, fieldSelector: 'involvedObject.name=target,reason=Started' })).items;
    expect(events.map((e) => e.involvedObject.fieldPath)).toContain('spec.ephemeralContainers{debugger}');

    // Never started again: several resyncs (every 2 s here) later, the same instance.
    await new Promise((r) => setTimeout(r, 6_000));
    expect((await ephemeral('target', 'debugger'))?.containerID).toBe(done.containerID);
    const instances = await runCommand('docker', ['ps', '-a', '--filter', `label=io.kubernetes.pod.uid=${p.metadata!.uid}`, '--filter', 'label=io.kubernetes.container.name=debugger', '--format', '{{.ID}}']);
    expect(instances.stdout.trim().split('\n')).toHaveLength(1);
  });

  it('node-api - kubectl debug -i: the client\'s stdin reaches the ephemeral container and its answer comes back', async () => {
    const r = await runCommand(labBinary('kubectl'), ['--kubeconfig', lab.adminKubeconfig, '-n', namespace, 'debug', '-i', 'target', '--image=splitlet-lab/testbox:1', '-c', 'talker', '--', 'sh', '-c', 'read line; echo "got $line"'], 'hello\n');
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('got hello');
    const s = await waitFor('talker terminated', async () => {
      const x = await ephemeral('target', 'talker');
      return x?.state?.terminated ? x : undefined;
    }, 30_000);
    expect(s.state?.terminated?.exitCode).toBe(0);
    // Both ephemeral containers listed, by name.
    expect((await read('target')).status?.ephemeralContainerStatuses?.map((x) => x.name)).toEqual(['debugger', 'talker']);
  });

  it('pod-sync - kubectl debug --target at a container that is not running: the ephemeral container waits with CreateContainerError and the runtime\'s reason', async () => {
    await t.core.createNamespacedPod({ namespace, body: pod('short', [{ name: 'done', script: 'exit 0' }, { name: 'up', script: 'exec sleep 3600' }], { restartPolicy: 'OnFailure' }) });
    await waitFor('short: done exited', async () => ((await read('short')).status?.containerStatuses?.find((c) => c.name === 'done')?.state?.terminated ? true : undefined), 60_000);
    expect((await k('debug', 'short', '--image=splitlet-lab/testbox:1', '--target=done', '-c', 'late', '--', 'true')).code).toBe(0);
    const s = await waitFor('late waiting', async () => {
      const x = await ephemeral('short', 'late');
      return x?.state?.waiting?.reason === 'CreateContainerError' ? x : undefined;
    }, 30_000);
    expect(s.state?.waiting?.message).toMatch(/target container \S+ is not running/);
    expect((await read('short')).status?.phase).toBe('Running');
  });

  it('pod-sync - shareProcessNamespace: each container sees the others\' processes, the sandbox\'s pause as PID 1', async () => {
    await t.core.createNamespacedPod({ namespace, body: pod('shared', [{ name: 'a', script: 'exec sleep 3602' }, { name: 'b', script: 'sleep 1; ps -o pid,args; exec sleep 3600' }], { shareProcessNamespace: true }) });
    const logs = await waitFor('b listed the processes', async () => {
      const r = await k('logs', 'shared', '-c', 'b');
      return r.stdout.includes('sleep 3602') ? r.stdout : undefined;
    }, 60_000);
    expect(logs).toMatch(/^\s*1\s+\/pause/m);
  });
});
