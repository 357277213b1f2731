import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CoreV1Api, V1PersistentVolume, V1Pod, V1Volume } from '@kubernetes/client-node';
import { podTestNames, startPodTestNode, waitFor } from '@splitlet/testing';

// persistentVolumeClaim volumes against the lab's real PV controller (kube-controller-
// manager binds the claims, its pvc-protection controller holds a claim in use): local
// and hostPath PVs, made of directories on this host. The node carries a label of its
// own name (every test node shares the host's kubernetes.io/hostname), which the local
// PVs' node affinity names.
const names = podTestNames('e2e-pv');
const { nodeName, namespace } = names;
const NODE_LABEL = 'e2e.splitlet.io/node';
const CLASS = `${namespace}-manual`;
let core: CoreV1Api;
let stopNode: (() => Promise<void>) | undefined;
let host: string;
const pvs: string[] = [];

const localPV = (name: string, path: string, node = nodeName, claim?: string): V1PersistentVolume => ({
  metadata: { name },
  spec: {
    capacity: { storage: '1Gi' },
    accessModes: ['ReadWriteOnce'],
    persistentVolumeReclaimPolicy: 'Retain',
    storageClassName: CLASS,
    local: { path },
    nodeAffinity: { required: { nodeSelectorTerms: [{ matchExpressions: [{ key: NODE_LABEL, operator: 'In', values: [node] }] }] } },
    ...(claim ? { claimRef: { namespace, name: claim } } : {}),
  },
});
async function createPV(pv: V1PersistentVolume): Promise<void> {
  pvs.push(pv.metadata!.name!);
  await core.createPersistentVolume({ body: pv });
}
const createClaim = (name: string, volumeName?: string) =>
  core.createNamespacedPersistentVolumeClaim({
    namespace,
    body: { metadata: { name }, spec: { accessModes: ['ReadWriteOnce'], storageClassName: CLASS, resources: { requests: { storage: '1Gi' } }, ...(volumeName ? { volumeName } : {}) } },
  });
const claimPhase = async (name: string) => (await core.readNamespacedPersistentVolumeClaim({ namespace, name })).status?.phase;
const podOf = (name: string, claim: string, script: string, o: { readOnly?: boolean; restartPolicy?: string; mounts?: V1Pod['spec'] extends infer S ? (S extends { containers: (infer C)[] } ? (C extends { volumeMounts?: infer M } ? M : never) : never) : never } = {}): V1Pod => {
  const volume: V1Volume = { name: 'data', persistentVolumeClaim: { claimName: claim, ...(o.readOnly ? { readOnly: true } : {}) } };
  return {
    metadata: { name, namespace },
    spec: {
      nodeName,
      terminationGracePeriodSeconds: 1,
      ...(o.restartPolicy ? { restartPolicy: o.restartPolicy } : {}),
      volumes: [volume],
      containers: [{ name: 'app', image: 'splitlet-lab/testbox:1', command: ['sh', '-c', script], volumeMounts: o.mounts ?? [{ name: 'data', mountPath: '/data' }] }],
    },
  };
};
const read = (name: string) => core.readNamespacedPod({ namespace, name });
const phase = async (name: string) => (await read(name)).status?.phase;
const failedMounts = async (pod: string) => (await core.listNamespacedEvent({ namespace, fieldSelector: `involvedObject.name=${pod},reason=FailedMount` })).items.map((e) => e.message);

describe('persistentVolumeClaim volumes (local and hostPath PVs)', () => {
  beforeAll(async () => {
    host = mkdtempSync(join(tmpdir(), `${namespace}-`));
    ({ core, stop: stopNode } = await startPodTestNode(names, { env: { SPLITLET_NODE_LABELS: `${NODE_LABEL}=${nodeName}` } }));
  });
  afterAll(async () => {
    await stopNode?.();
    for (const name of pvs) await core.deletePersistentVolume({ name }).catch(() => undefined);
    rmSync(host, { recursive: true, force: true });
  });

  it('pod-sync - a claim bound to a local PV: the pod writes into the PV\'s directory, a subPath too; deleted and made again (as a StatefulSet\'s) it finds its data; the claim deleted while in use stays until the pod is gone', async () => {
    const dir = join(host, 'local');
    mkdirSync(dir);
    await createPV(localPV(`${namespace}-local`, dir, nodeName, 'claim-a'));
    await createClaim('claim-a', `${namespace}-local`);
    await waitFor('claim-a Bound', async () => ((await claimPhase('claim-a')) === 'Bound' ? true : undefined), 60_000);
    await core.createNamespacedPod({
      namespace,
      body: podOf('writer', 'claim-a', 'echo hello > /data/out && echo sub > /sub/insub && sleep 3600', {
        mounts: [
          { name: 'data', mountPath: '/data' },
          { name: 'data', mountPath: '/sub', subPath: 'sub' },
        ],
      }),
    });
    await waitFor('writer Running', async () => ((await phase('writer')) === 'Running' ? true : undefined), 60_000);
    await waitFor('the files on the host', async () => { try { return readFileSync(join(dir, 'sub', 'insub'), 'utf8'); } catch { return undefined; } }, 30_000);
    expect(readFileSync(join(dir, 'out'), 'utf8')).toBe('hello\n');
    expect(readFileSync(join(dir, 'sub', 'insub'), 'utf8')).toBe('sub\n');
    expect(await failedMounts('writer')).toEqual([]);

    // As a StatefulSet's pod: deleted and made again on the node with the same claim, it finds its data.
    await core.deleteNamespacedPod({ namespace, name: 'writer' });
    await waitFor('writer gone', async () => (await read('writer').then(() => undefined, () => true)), 60_000);
    await core.createNamespacedPod({ namespace, body: podOf('writer', 'claim-a', 'cat /data/out > /data/seen-again && sleep 3600') });
    await waitFor('writer Running again', async () => ((await phase('writer')) === 'Running' ? true : undefined), 60_000);
    await waitFor('the data read back', async () => { try { return readFileSync(join(dir, 'seen-again'), 'utf8') === 'hello\n' ? true : undefined; } catch { return undefined; } }, 30_000);

    // kubernetes.io/pvc-protection: Terminating while the pod uses it, gone once the pod is.
    await core.deleteNamespacedPersistentVolumeClaim({ namespace, name: 'claim-a' });
    await new Promise((r) => setTimeout(r, 3_000));
    const held = await core.readNamespacedPersistentVolumeClaim({ namespace, name: 'claim-a' });
    expect(held.metadata?.deletionTimestamp).toBeDefined();
    expect(await phase('writer')).toBe('Running');
    await core.deleteNamespacedPod({ namespace, name: 'writer' });
    await waitFor('claim-a gone', async () => (await core.readNamespacedPersistentVolumeClaim({ namespace, name: 'claim-a' }).then(() => undefined, () => true)), 90_000);
  });

  it('pod-sync - an unbound claim: the pod waits with the kubelet\'s FailedMount; bound later (a hostPath PV), it runs; a readOnly claim volume is mounted read-only', async () => {
    await createClaim('claim-b');
    await core.createNamespacedPod({ namespace, body: podOf('waiter', 'claim-b', 'touch /data/mark && sleep 3600') });
    const message = await waitFor('the FailedMount Event', async () => (await failedMounts('waiter'))[0], 60_000);
    expect(message).toBe(`Unable to attach or mount volumes: unmounted volumes=[data], unattached volumes=[], failed to process volumes=[data]: error processing PVC ${namespace}/claim-b: PVC is not bound`);
    // The Event and the status are two writes (two streams, status-reporter's writers for each); the kubelet's are not
    // ordered either (its status manager writes apart). The status comes within a sync.
    const waiting = await waitFor('the waiter\'s status', async () => {
      const p = await read('waiter');
      return p.status?.containerStatuses?.length ? p : undefined;
    }, 10_000);
    expect(waiting.status?.phase).toBe('Pending');
    expect(waiting.status?.containerStatuses?.[0]?.state?.waiting?.reason).toBe('ContainerCreating');

    const dir = join(host, 'hostpath');
    await createPV({
      metadata: { name: `${namespace}-hostpath` },
      spec: { capacity: { storage: '1Gi' }, accessModes: ['ReadWriteOnce'], persistentVolumeReclaimPolicy: 'Retain', storageClassName: CLASS, hostPath: { path: dir, type: 'DirectoryOrCreate' } },
    });
    await waitFor('claim-b Bound', async () => ((await claimPhase('claim-b')) === 'Bound' ? true : undefined), 60_000);
    await waitFor('waiter Running', async () => ((await phase('waiter')) === 'Running' ? true : undefined), 90_000);
    await waitFor('the mark on the host', async () => { try { return readFileSync(join(dir, 'mark'), 'utf8') === '' ? true : undefined; } catch { return undefined; } }, 30_000);

    await core.createNamespacedPod({ namespace, body: podOf('reader', 'claim-b', 'if touch /data/other 2>/dev/null; then exit 3; fi; test -f /data/mark', { readOnly: true, restartPolicy: 'Never' }) });
    await waitFor('reader Succeeded', async () => {
      const p = await phase('reader');
      if (p === 'Failed') throw new Error('reader could write, or not read, the volume');
      return p === 'Succeeded' ? true : undefined;
    }, 60_000);
  });

  it('pod-sync - a local PV of another node, or whose path is missing: the plugins\' FailedMount messages, and the pods wait', async () => {
    await createPV(localPV(`${namespace}-elsewhere`, host, 'another-node', 'claim-c'));
    await createClaim('claim-c', `${namespace}-elsewhere`);
    const missing = join(host, 'missing');
    await createPV(localPV(`${namespace}-missing`, missing, nodeName, 'claim-d'));
    await createClaim('claim-d', `${namespace}-missing`);
    for (const c of ['claim-c', 'claim-d']) await waitFor(`${c} Bound`, async () => ((await claimPhase(c)) === 'Bound' ? true : undefined), 60_000);
    await core.createNamespacedPod({ namespace, body: podOf('misplaced', 'claim-c', 'sleep 3600') });
    await core.createNamespacedPod({ namespace, body: podOf('pathless', 'claim-d', 'sleep 3600') });
    expect(await waitFor('misplaced FailedMount', async () => (await failedMounts('misplaced'))[0], 60_000)).toBe(`MountVolume.NodeAffinity check failed for volume "${namespace}-elsewhere" : no matching NodeSelectorTerms`);
    expect(await waitFor('pathless FailedMount', async () => (await failedMounts('pathless'))[0], 60_000)).toBe(`MountVolume.NewMounter initialization failed for volume "${namespace}-missing" : path "${missing}" does not exist`);
    for (const name of ['misplaced', 'pathless']) expect(await phase(name)).toBe('Pending');
    // The path made: the next retry mounts it.
    mkdirSync(missing);
    await waitFor('pathless Running', async () => ((await phase('pathless')) === 'Running' ? true : undefined), 90_000);
  });
});
