import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CoordinationV1Api, CoreV1Api, KubeConfig, type V1Node } from '@kubernetes/client-node';
import { labEnv, mintNodeKubeconfig, requiredServices, testNode, type TestNode, waitFor, runCommand } from '@splitlet/testing';

// registrar against the lab, as the node identity system:node:<name> under the Node
// authorizer and NodeRestriction: the node joins, stays Ready, heartbeats through its
// Lease, and says why when it is not ready (a service it requires that does not answer).
const lab = labEnv();
const nodeName = `e2e-reg-${randomBytes(3).toString('hex')}`;
const admin = new KubeConfig();
admin.loadFromFile(lab.adminKubeconfig);
const core = admin.makeApiClient(CoreV1Api);
const coordination = admin.makeApiClient(CoordinationV1Api);
const ready = (n: V1Node) => n.status?.conditions?.find((c) => c.type === 'Ready');
const readNode = () => core.readNode({ name: nodeName });

describe('registrar with the wrong identity', () => {
  it('registrar - a kubeconfig for another node: a clear 403 from NodeRestriction, retried, no crash', async () => {
    const other = `${nodeName}-other`;
    const wrong = testNode(other, await mintNodeKubeconfig(nodeName));
    try {
      const registrar = await wrong.start('registrar');
      const line = await registrar.waitForLog((l) => l['msg'] === 'unable to register node with API server', 20_000);
      expect(String(line['err'])).toMatch(/^HTTP 403: .*node "[^"]+" is not allowed to modify node "[^"]+-other"/);
      await registrar.waitForLog((l) => l['msg'] === 'unable to register node with API server' && l !== line, 20_000);
      expect(registrar.child.exitCode).toBeNull();
    } finally {
      await wrong.stopAll();
    }
  });
});

describe('registrar against the lab', () => {
  let node: TestNode;
  beforeAll(async () => {
    node = testNode(nodeName, await mintNodeKubeconfig(nodeName), {
      SPLITLET_NODE_LABELS: 'example.com/e2e=registrar',
      SPLITLET_REGISTER_WITH_TAINTS: 'splitlet.dev/e2e=registrar:NoSchedule',
      // What runs here: pod-sync and the prober (no status-reporter, no node-api).
      SPLITLET_NODE_REQUIRED_SERVICES: requiredServices({ prober: true, statusReporter: false }).join(','),
    });
    await node.start('runtime-executor');
    await Promise.all([node.start('pod-sync'), node.start('prober')]);
    await node.start('registrar');
  });
  afterAll(async () => {
    await node?.stopAll();
    await core.deleteNode({ name: nodeName }).catch(() => undefined);
  });

  it('registrar - the node joins Ready with every status field filled with real values', async () => {
    const n = await waitFor('the node to be Ready', async () => {
      const got = await readNode();
      return ready(got)?.status === 'True' ? got : undefined;
    }, 30_000);
    expect(n.metadata?.labels).toMatchObject({
      'kubernetes.io/os': 'linux',
      'kubernetes.io/arch': 'amd64',
      'kubernetes.io/hostname': expect.stringMatching(/.+/),
      'example.com/e2e': 'registrar',
    });
    expect(n.metadata?.annotations?.['volumes.kubernetes.io/controller-managed-attach-detach']).toBe('true');
    expect(n.spec?.taints).toContainEqual({ key: 'splitlet.dev/e2e', value: 'registrar', effect: 'NoSchedule' });

    const s = n.status!;
    expect(Object.keys(s.capacity ?? {}).sort()).toEqual(['cpu', 'ephemeral-storage', 'memory', 'pods']);
    expect(s.capacity?.pods).toBe('110');
    expect(s.capacity?.memory).toMatch(/^\d+Ki$/);
    expect(Object.keys(s.allocatable ?? {}).sort()).toEqual(['cpu', 'ephemeral-storage', 'memory', 'pods']);
    expect(s.nodeInfo).toMatchObject({
      containerRuntimeVersion: expect.stringMatching(/^docker:\/\/\d+\.\d+\.\d+/),
      kubeletVersion: expect.stringMatching(/^v\d+/),
      osImage: expect.stringMatching(/.+/),
      kernelVersion: expect.stringMatching(/.+/),
      machineID: readFileSync('/etc/machine-id', 'utf8').trim(),
      bootID: readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim(),
      operatingSystem: 'linux',
      architecture: 'amd64',
    });
    expect(s.addresses?.map((a) => a.type)).toEqual(['InternalIP', 'Hostname']);
    expect(s.addresses?.[0]?.address).toMatch(/^\d+\.\d+\.\d+\.\d+$/);
    expect(s.daemonEndpoints?.kubeletEndpoint?.Port).toBe(10250);
    expect(s.images?.length).toBeGreaterThan(0);
    expect(s.images?.length).toBeLessThanOrEqual(50);
    // As the kubelet: Docker's 50 largest images (whatever else the machine holds), up
    // to 5 names each; the list follows Docker's at each status update.
    const expected = await waitFor('the node\'s image list to be Docker\'s', async () => {
      const docker = JSON.parse((await runCommand('curl', ['-s', '--unix-socket', '/var/run/docker.sock', 'http://docker/images/json'])).stdout) as { Size: number; RepoTags: string[] | null }[];
      const tagged = docker.sort((a, b) => b.Size - a.Size).slice(0, 50).flatMap((i) => (i.RepoTags ?? []).filter((t) => t !== '<none>:<none>'));
      const names = (await core.readNode({ name: nodeName })).status?.images?.flatMap((i) => i.names ?? []) ?? [];
      return tagged.length && tagged.every((t) => names.includes(t)) ? tagged : undefined;
    }, 45_000);
    expect(expected.length).toBeGreaterThan(0);
    expect(s.conditions?.map((c) => [c.type, c.status, c.reason])).toEqual([
      ['MemoryPressure', 'False', 'KubeletHasSufficientMemory'],
      ['DiskPressure', 'False', 'KubeletHasNoDiskPressure'],
      ['PIDPressure', 'False', 'KubeletHasSufficientPID'],
      ['Ready', 'True', 'KubeletReady'],
    ]);
  });

  it('registrar - the Lease kube-node-lease/<node> is owned by the Node and renewed about every 10 s', async () => {
    const renewals: number[] = [];
    const deadline = Date.now() + 35_000;
    while (Date.now() < deadline && renewals.length < 3) {
      const l = await coordination.readNamespacedLease({ namespace: 'kube-node-lease', name: nodeName }).catch(() => undefined);
      const t = l?.spec?.renewTime ? new Date(l.spec.renewTime).getTime() : undefined;
      if (t && t !== renewals.at(-1)) renewals.push(t);
      expect(l?.spec?.holderIdentity ?? nodeName).toBe(nodeName);
      await new Promise((r) => setTimeout(r, 250));
    }
    const lease = await coordination.readNamespacedLease({ namespace: 'kube-node-lease', name: nodeName });
    expect(lease.spec?.leaseDurationSeconds).toBe(40);
    expect(lease.metadata?.ownerReferences?.[0]).toMatchObject({ kind: 'Node', name: nodeName, uid: (await readNode()).metadata?.uid });
    expect(renewals.length).toBe(3);
    for (let i = 1; i < renewals.length; i++) {
      const gap = renewals[i]! - renewals[i - 1]!;
      expect(gap).toBeGreaterThanOrEqual(9_500);
      expect(gap).toBeLessThanOrEqual(11_500);
    }
  });

  it('registrar - stopping runtime-executor turns Ready False once it has not answered for 30 s (the kubelet\'s maxWaitForContainerRuntime), within 45 s; starting it turns it True', async () => {
    await node.stop('runtime-executor');
    const stoppedAt = Date.now();
    try {
      const notReady = await waitFor('Ready=False', async () => {
        const c = ready(await readNode());
        return c?.status === 'False' ? c : undefined;
      }, 45_000);
      // (No lower bound: on a loaded machine its last answer may have come well before the stop.)
      expect(Date.now() - stoppedAt).toBeLessThan(45_000);
      expect(notReady).toMatchObject({ reason: 'KubeletNotReady', message: expect.stringContaining('container runtime is down: runtime-executor is not running') });
    } finally {
      // The next tests need it, whatever this one found.
      await node.start('runtime-executor');
    }
    const back = await waitFor('Ready=True', async () => {
      const c = ready(await readNode());
      return c?.status === 'True' ? c : undefined;
    }, 40_000);
    expect(back).toMatchObject({ reason: 'KubeletReady', message: 'kubelet is posting ready status' });
  });

  it('registrar - stopping pod-sync turns Ready False (once it has not answered for 30 s), naming it', async () => {
    await node.stop('pod-sync');
    try {
      const notReady = await waitFor('Ready=False', async () => {
        const c = ready(await readNode());
        return c?.status === 'False' ? c : undefined;
      }, 45_000);
      expect(notReady.message).toContain('pod-sync is not running');
    } finally {
      await node.start('pod-sync');
    }
    await waitFor('Ready=True', async () => (ready(await readNode())?.status === 'True' ? true : undefined), 40_000);
  });

  it('registrar - a prober killed (SIGKILL) turns Ready False within 40 s, naming it; started again, Ready True', async () => {
    await node.stop('prober', 'SIGKILL');
    const killedAt = Date.now();
    try {
      const notReady = await waitFor('Ready=False', async () => {
        const c = ready(await readNode());
        return c?.status === 'False' ? c : undefined;
      }, 40_000);
      expect(Date.now() - killedAt).toBeLessThan(40_000);
      expect(notReady).toMatchObject({ reason: 'KubeletNotReady', message: expect.stringContaining('prober is not running: no prober service answers for this node') });
      // The prober alone: runtime-executor and pod-sync still count.
      expect(notReady.message).toBe('prober is not running: no prober service answers for this node');
    } finally {
      await node.start('prober');
    }
    const back = await waitFor('Ready=True', async () => {
      const c = ready(await readNode());
      return c?.status === 'True' ? c : undefined;
    }, 40_000);
    expect(back).toMatchObject({ reason: 'KubeletReady', message: 'kubelet is posting ready status' });
  });

  it('registrar - a deleted Lease is created again at the next renewal', async () => {
    await coordination.deleteNamespacedLease({ namespace: 'kube-node-lease', name: nodeName });
    const lease = await waitFor('the Lease to be back', () => coordination.readNamespacedLease({ namespace: 'kube-node-lease', name: nodeName }), 25_000);
    expect(lease.spec?.holderIdentity).toBe(nodeName);
  });

  it('registrar - a graceful stop leaves the Node in place, as a stopped kubelet does', async () => {
    await node.stop('registrar');
    const n = await readNode();
    expect(n.metadata?.name).toBe(nodeName);
    expect(ready(n)?.status).toBe('True');
  });
});
