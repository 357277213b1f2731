import { mkdtempSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KubeConfig, type CoreV1Api, type V1Pod } from '@kubernetes/client-node';
import { labEnv, podTestNames, runCommand, startPodTestNode, startTcpProxy, waitFor, type PodTestNode, type TcpProxy } from '@splitlet/testing';

// Static pods from a manifest directory (SPLITLET_STATIC_POD_PATH) and their mirror pods.
// Each has a readiness probe: Ready only when the prober accepts the static pod's probe
// view (checked against its mirror pod).
// The node reaches the API server through a TCP proxy (as apiserver-outage.e2e.ts), so
// the last test can take the API server away from it alone and show static pods run
// without it, through a restart of every service.
const names = podTestNames('e2e-static');
const { nodeName, namespace } = names;
let proxy: TcpProxy;
let t: PodTestNode;
let core: CoreV1Api;
let dir: string;

const manifest = (name: string, command: string) => `apiVersion: v1
kind: Pod
metadata:
  name: ${name}
  namespace: ${namespace}
  labels: { app: ${name} }
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: app
    image: splitlet-lab/testbox:1
    command: [sh, -c, '${command}']
    readinessProbe:
      exec: { command: ['true'] }
      periodSeconds: 1
`;
const mirrorName = (name: string) => `${name}-${nodeName}`;
const readMirror = (name: string) => core.readNamespacedPod({ namespace, name: mirrorName(name) }).catch(() => undefined);
/** The app containers Docker runs for a static pod of this name (by the kubelet-style labels). */
async function running(name: string): Promise<string[]> {
  const r = await runCommand('docker', ['ps', '-q', '--no-trunc', '--filter', `label=io.kubernetes.pod.name=${mirrorName(name)}`, '--filter', `label=io.kubernetes.pod.namespace=${namespace}`, '--filter', 'label=io.kubernetes.container.name=app']);
  return r.stdout.split('\n').filter(Boolean);
}
const runningMirror = (name: string, ok: (p: V1Pod) => boolean = () => true) =>
  waitFor(`${name}'s mirror pod Running`, async () => {
    const p = await readMirror(name);
    return p?.status?.phase === 'Running' && p.status.containerStatuses?.[0]?.ready && ok(p) ? p : undefined;
  }, 60_000);

describe('static pods (SPLITLET_STATIC_POD_PATH) and mirror pods', () => {
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), `${namespace}-manifests-`));
    const admin = new KubeConfig();
    admin.loadFromFile(labEnv().adminKubeconfig);
    const server = new URL(admin.getCurrentCluster()!.server);
    proxy = await startTcpProxy({ host: server.hostname, port: Number(server.port || 443) });
    t = await startPodTestNode(names, { prober: true, server: `https://127.0.0.1:${proxy.port}`, env: { SPLITLET_STATIC_POD_PATH: dir, SPLITLET_FILE_CHECK_FREQUENCY_MS: '2000' } });
    core = t.core;
  });
  afterAll(async () => {
    await proxy?.up();
    await t?.stop();
    await proxy?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('pod-sync - a manifest runs as a static pod: named <name>-<node>, a mirror pod owned by the Node carries its hash and status; an edit replaces it; a deleted mirror pod is made again, the container left running; an invalid manifest is reported and the others run', async () => {
    writeFileSync(join(dir, 'web.yaml'), manifest('web', 'sleep 3600'));
    const mirror = await runningMirror('web');
    const node = await core.readNode({ name: nodeName });
    const hash = mirror.metadata?.annotations?.['kubernetes.io/config.hash'];
    expect(hash).toMatch(/^[0-9a-f]{32}$/);
    expect(mirror.metadata?.annotations).toMatchObject({ 'kubernetes.io/config.mirror': hash, 'kubernetes.io/config.source': 'file', 'kubernetes.io/config.seen': expect.stringMatching(/^\d{4}-\d\d-\d\dT/) });
    expect(mirror.metadata?.uid).not.toBe(hash);
    expect(mirror.metadata?.ownerReferences).toEqual([expect.objectContaining({ apiVersion: 'v1', kind: 'Node', name: nodeName, uid: node.metadata?.uid, controller: true })]);
    expect(mirror.spec?.nodeName).toBe(nodeName);
    expect(mirror.spec?.tolerations).toContainEqual(expect.objectContaining({ operator: 'Exists', effect: 'NoExecute' }));
    const [container] = await running('web');
    expect(container).toBeDefined();
    const labels = JSON.parse((await runCommand('docker', ['inspect', '-f', '{{json .Config.Labels}}', container!])).stdout) as Record<string, string>;
    expect(labels['io.kubernetes.pod.uid']).toBe(hash);
    // Its Events name the static pod (its own UID), as the kubelet's.
    const started = await waitFor('the Started Event', async () => (await core.listNamespacedEvent({ namespace, fieldSelector: `involvedObject.name=${mirrorName('web')},reason=Started` })).items[0], 30_000);
    expect(started.involvedObject.uid).toBe(hash);

    // A deleted mirror pod comes back (a new API object); the static pod runs on untouched.
    await core.deleteNamespacedPod({ namespace, name: mirrorName('web') });
    const again = await runningMirror('web', (p) => p.metadata?.uid !== mirror.metadata?.uid);
    expect(again.metadata?.annotations?.['kubernetes.io/config.mirror']).toBe(hash);
    expect(await running('web')).toEqual([container]);

    // An edit: a new hash, the old container stopped, a new one; the mirror pod replaced.
    writeFileSync(join(dir, 'web.yaml'), manifest('web', 'sleep 7200'));
    const edited = await runningMirror('web', (p) => p.metadata?.annotations?.['kubernetes.io/config.mirror'] !== hash);
    expect(edited.metadata?.annotations?.['kubernetes.io/config.hash']).not.toBe(hash);
    await waitFor('only the new container runs', async () => {
      const now = await running('web');
      return now.length === 1 && now[0] !== container ? true : undefined;
    }, 30_000);

    // An invalid manifest: a Warning Event about the Node naming the file; web runs on.
    writeFileSync(join(dir, 'broken.yaml'), 'apiVersion: v1\nkind: Pod\nmetadata: {}\nspec: {}\n');
    const event = await waitFor('the FailedToCreateStaticPod Event', async () => (await core.listNamespacedEvent({ namespace: 'default', fieldSelector: `involvedObject.name=${nodeName},reason=FailedToCreateStaticPod` })).items[0], 30_000);
    expect(event).toMatchObject({ type: 'Warning', message: `static pod manifest ${join(dir, 'broken.yaml')}: invalid pod: name is needed for the pod` });
    expect((await readMirror('web'))?.status?.phase).toBe('Running');
  });

  it('pod-sync - static pods run without the API server, also through a restart of every service; back, the mirror pod shows them; a manifest removed stops its pod and deletes its mirror', async () => {
    const before = await running('web');
    expect(before).toHaveLength(1);
    await proxy.down();
    writeFileSync(join(dir, 'offline.yaml'), manifest('offline', 'sleep 3600'));
    const offline = await waitFor('offline runs in Docker', async () => ((await running('offline')).length === 1 ? running('offline') : undefined), 60_000);
    // Every service restarted, one after the other, while the API server is away.
    for (const service of ['runtime-executor', 'status-reporter', 'prober', 'registrar', 'pod-sync'] as const) {
      await t.node.stop(service);
      await t.node.start(service);
    }
    // Still without the API server, the restarted pod-sync runs a new manifest, and leaves the others' containers as they were.
    writeFileSync(join(dir, 'later.yaml'), manifest('later', 'sleep 3600'));
    await waitFor('later runs in Docker', async () => ((await running('later')).length === 1 ? true : undefined), 60_000);
    expect(await running('offline')).toEqual(offline);
    expect(await running('web')).toEqual(before);

    await proxy.up();
    await runningMirror('offline');
    await runningMirror('later');

    unlinkSync(join(dir, 'offline.yaml'));
    await waitFor('offline stopped', async () => ((await running('offline')).length === 0 ? true : undefined), 30_000);
    await waitFor('its mirror pod deleted', async () => ((await readMirror('offline')) === undefined ? true : undefined), 30_000);
    expect(await running('web')).toEqual(before);
  });
});
