import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { V1Pod } from '@kubernetes/client-node';
import { kubectl, labEnv, podTestNames, runCommand, startPodTestNode, startServiceProcess, waitFor, type PodTestNode } from '@splitlet/testing';

// The all-in-one node (SPLITLET_NODE_MODE=single): the six services in one process,
// still talking over NATS, each with its own bus identity. What a user sees must be
// what the six processes give: the Node Ready, a pod Running and Ready by its probe,
// `kubectl logs` through node-api; and a restart of the process is a restart of the
// services, not a node shutdown: the pod's container keeps running, untouched.
// (The pod's trace across the services, each with its own service.name: traces.e2e.ts.)
const lab = labEnv();
const { nodeName, namespace } = podTestNames('e2e-one');
const services = ['runtime-executor', 'status-reporter', 'prober', 'pod-sync', 'node-api', 'registrar'] as const;

interface Connz {
  connections: { name?: string; jwt?: string; authorized_user?: string }[];
}
const jwtName = (jwt: string | undefined) => (jwt ? (JSON.parse(Buffer.from(jwt.split('.')[1]!, 'base64url').toString()) as { name?: string }).name : undefined);

describe('the all-in-one node', () => {
  let t: PodTestNode;
  const k = (...args: string[]) => kubectl(lab.adminKubeconfig, ['-n', namespace, ...args]);
  const readPod = (name: string) => t.core.readNamespacedPod({ namespace, name });

  beforeAll(async () => {
    t = await startPodTestNode({ nodeName, namespace }, { prober: true, nodeApi: true, mode: 'single' });
  });
  afterAll(async () => {
    await t?.stop();
  });

  it('one process hosts the six services, each connected to NATS as its own identity of this node', async () => {
    const pids = new Set(services.map((s) => t.node.procs[s]?.child.pid));
    expect(pids.size).toBe(1);
    const connz = (await (await fetch(`${lab.natsMonitorUrl}/connz?auth=true&limit=1024`)).json()) as Connz;
    const ours = connz.connections.filter((c) => c.name?.endsWith(`@${nodeName}`));
    expect(ours.map((c) => c.name).sort()).toEqual(services.map((s) => `${s}@${nodeName}`).sort());
    // the JWT each connected with names the node and that service: six users, not one
    for (const c of ours) expect(jwtName(c.jwt)).toBe(`${nodeName}/${c.name!.split('@')[0]}`);
    expect(new Set(ours.map((c) => c.authorized_user)).size).toBe(6);
  });

  it('a pod runs and turns Ready by its readiness probe; kubectl logs reads it through node-api', async () => {
    const body: V1Pod = {
      metadata: { name: 'web', namespace },
      spec: {
        nodeName,
        terminationGracePeriodSeconds: 1,
        containers: [
          {
            name: 'app',
            image: 'splitlet-lab/testbox:1',
            command: ['sh', '-c', 'echo hello from the all-in-one node; touch /tmp/ready; exec sleep 3600'],
            readinessProbe: { exec: { command: ['cat', '/tmp/ready'] }, periodSeconds: 1 },
          },
        ],
      },
    };
    await t.core.createNamespacedPod({ namespace, body });
    const ready = await waitFor('web Ready', async () => {
      const p = await readPod('web');
      return p.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ? p : undefined;
    }, 60_000);
    expect(ready.status?.phase).toBe('Running');
    expect(ready.status?.containerStatuses?.[0]).toMatchObject({ name: 'app', ready: true, started: true, restartCount: 0 });
    const logs = await k('logs', 'web');
    expect(logs.stderr).toBe('');
    expect(logs.stdout).toBe('hello from the all-in-one node\n');
  });

  it('SIGTERM stops all six cleanly (exit 0) and leaves the pod running; started again, the node adopts it as it was', async () => {
    const before = await readPod('web');
    const containerID = before.status!.containerStatuses![0]!.containerID!.replace('docker://', '');
    const proc = t.node.procs['registrar']!;
    proc.kill('SIGTERM');
    expect(await proc.exited).toEqual({ code: 0, signal: null });
    for (const s of services) expect(t.node.procs[s]?.logs.some((l) => l['msg'] === 'stopped'), s).toBe(true);
    const inspected = await runCommand('docker', ['inspect', '-f', '{{.State.Running}} {{.RestartCount}}', containerID]);
    expect(inspected.stdout.trim()).toBe('true 0');

    await t.node.startTogether([...services]);
    // Ready from the new process's own probes, still the same container: no restart.
    const after = await waitFor('web Ready after the restart', async () => {
      const p = await readPod('web');
      const ready = p.status?.conditions?.find((c) => c.type === 'Ready');
      return ready?.status === 'True' && t.node.procs['prober']!.logs.length > 0 ? p : undefined;
    }, 60_000);
    expect(after.status?.containerStatuses?.[0]).toMatchObject({ containerID: `docker://${containerID}`, restartCount: 0, ready: true });
    expect(after.metadata?.uid).toBe(before.metadata?.uid);
  });

  it('SPLITLET_SERVICES naming no service it hosts is a configuration error: exit 78, saying which', async () => {
    const p = startServiceProcess('all-in-one', { SPLITLET_NODE_NAME: nodeName, SPLITLET_SERVICES: 'pod-sync,kubelet' });
    expect(await p.exited).toEqual({ code: 78, signal: null });
    expect(p.stderr()).toContain('SPLITLET_SERVICES names no service kubelet (it hosts runtime-executor, status-reporter, pod-sync, prober, node-api, registrar)');
  });
});
