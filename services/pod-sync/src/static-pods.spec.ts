import { mkdtempSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { V1Pod } from '@kubernetes/client-node';
import { createLogger } from '@splitlet/telemetry';
import { FakeClock } from '@splitlet/testing';
import { ApiException, type CoreV1Api } from '@kubernetes/client-node';
import { isMirrorPodOf, isStaticPod, MirrorPods, NodePods, parseManifest, rfc3339Nano, StaticPodSource, staticPod } from './static-pods';

const logger = createLogger('static-pods-test', { level: 'silent' });
const YAML = `apiVersion: v1
kind: Pod
metadata:
  name: web
  labels: { app: web }
spec:
  containers:
  - name: app
    image: splitlet-lab/testbox:1
    command: [sleep, '3600']
    ports: [{ containerPort: 80 }]
    resources: { limits: { cpu: 100m } }
    livenessProbe: { httpGet: { path: /, port: 80 } }
`;

describe('static pods: the kubelet\'s file and URL sources', () => {
  it('parseManifest - a Pod in YAML or JSON; a URL\'s PodList; a file\'s first document, a Pod only; what is no pod is refused with why', async () => {
    expect((await parseManifest(YAML)).map((p) => p.metadata?.name)).toEqual(['web']);
    expect((await parseManifest(JSON.stringify({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'j' }, spec: { containers: [{ name: 'a', image: 'i' }] } })))[0]?.metadata?.name).toBe('j');
    expect((await parseManifest(JSON.stringify({ apiVersion: 'v1', kind: 'PodList', items: [{ metadata: { name: 'a' }, spec: { containers: [{ name: 'c', image: 'i' }] } }, { metadata: { name: 'b' }, spec: { containers: [{ name: 'c', image: 'i' }] } }] }))).map((p) => p.metadata?.name)).toEqual(['a', 'b']);
    expect((await parseManifest(`${YAML}---\n${YAML.replace('name: web', 'name: api')}`, 'file')).map((p) => p.metadata?.name)).toEqual(['web']);
    await expect(parseManifest(JSON.stringify({ apiVersion: 'v1', kind: 'PodList', items: [] }), 'file')).rejects.toThrow("couldn't parse as pod(want kind Pod, got PodList), please check config file");
    await expect(parseManifest('kind: Deployment\napiVersion: apps/v1\n')).rejects.toThrow('want apiVersion v1, kind Pod or PodList; got apps/v1 Deployment');
    await expect(parseManifest('apiVersion: v1\nkind: Pod\nspec: { containers: [] }\n')).rejects.toThrow('invalid pod: name is needed for the pod');
    await expect(parseManifest('apiVersion: v1\nkind: Pod\nmetadata: { name: Web }\nspec: { containers: [{ name: a, image: i }] }\n')).rejects.toThrow(/metadata.name: Invalid value: "Web"/);
    await expect(parseManifest('apiVersion: v1\nkind: Pod\nmetadata: { name: w }\nspec: { containers: [{ name: a }] }\n')).rejects.toThrow('invalid pod: [spec.containers[0].image: Required value]');
    await expect(parseManifest('apiVersion: v1\nkind: Pod\nmetadata: { name: [\n')).rejects.toThrow(/not YAML or JSON/);
  });

  it('staticPod - named <name>-<node> in default, bound to the node, the config annotations, the NoExecute toleration, the API\'s defaults; its UID a hash of the manifest, the node and the file', async () => {
    const raw = (await parseManifest(YAML))[0]!;
    const pod = staticPod(raw, 'file', '/etc/manifests/web.yaml', 'node-1', '2026-12-05T07:00:00.5Z');
    expect(pod.metadata).toMatchObject({ name: 'web-node-1', namespace: 'default', labels: { app: 'web' } });
    expect(pod.metadata?.uid).toMatch(/^[0-9a-f]{32}$/);
    expect(pod.metadata?.annotations).toEqual({ 'kubernetes.io/config.hash': pod.metadata?.uid, 'kubernetes.io/config.source': 'file', 'kubernetes.io/config.seen': '2026-12-05T07:00:00.5Z' });
    expect(pod.spec).toMatchObject({ nodeName: 'node-1', restartPolicy: 'Always', dnsPolicy: 'ClusterFirst', terminationGracePeriodSeconds: 30, enableServiceLinks: true, tolerations: [{ operator: 'Exists', effect: 'NoExecute' }] });
    // A URL's pod gets no such toleration (a file source's only).
    expect(staticPod(raw, 'http', 'http://x/web.yaml', 'node-1', '').spec?.tolerations).toBeUndefined();
    expect(pod.spec?.containers[0]).toMatchObject({
      imagePullPolicy: 'IfNotPresent',
      terminationMessagePath: '/dev/termination-log',
      terminationMessagePolicy: 'File',
      ports: [{ containerPort: 80, protocol: 'TCP' }],
      resources: { limits: { cpu: '100m' }, requests: { cpu: '100m' } },
      livenessProbe: { timeoutSeconds: 1, periodSeconds: 10, successThreshold: 1, failureThreshold: 3, httpGet: { scheme: 'HTTP' } },
    });
    expect(pod.status).toEqual({ phase: 'Pending' });
    expect(isStaticPod(pod)).toBe(true);
    // The same manifest on the same node and file: the same UID, whatever its key order and first-seen time.
    const reordered = (await parseManifest(JSON.stringify({ spec: raw.spec, metadata: raw.metadata, kind: 'Pod', apiVersion: 'v1' })))[0]!;
    expect(staticPod(reordered, 'file', '/etc/manifests/web.yaml', 'node-1', 'later').metadata?.uid).toBe(pod.metadata?.uid);
    // Another node, another file, an edit: another UID.
    expect(staticPod(raw, 'file', '/etc/manifests/web.yaml', 'node-2', '').metadata?.uid).not.toBe(pod.metadata?.uid);
    expect(staticPod(raw, 'file', '/etc/manifests/other.yaml', 'node-1', '').metadata?.uid).not.toBe(pod.metadata?.uid);
    expect(staticPod((await parseManifest(YAML.replace('3600', '3601')))[0]!, 'file', '/etc/manifests/web.yaml', 'node-1', '').metadata?.uid).not.toBe(pod.metadata?.uid);
    // The mirror pod shows it while it carries its hash.
    const mirror: V1Pod = { metadata: { name: 'web-node-1', namespace: 'default', uid: 'api-uid', annotations: { 'kubernetes.io/config.mirror': pod.metadata!.uid! } } };
    expect(isMirrorPodOf(mirror, pod)).toBe(true);
    expect(isMirrorPodOf({ ...mirror, metadata: { ...mirror.metadata, annotations: { 'kubernetes.io/config.mirror': 'old' } } }, pod)).toBe(false);
    expect(rfc3339Nano(Date.UTC(2026, 11, 5, 7, 0, 0, 0))).toBe('2026-12-05T07:00:00Z');
    expect(rfc3339Nano(Date.UTC(2026, 11, 5, 7, 0, 0, 120))).toBe('2026-12-05T07:00:00.12Z');
  });

  describe('StaticPodSource (a directory)', () => {
    let dir: string;
    let changes: { added: string[]; removed: string[] }[];
    let invalid: string[];
    let source: StaticPodSource;
    beforeEach(() => {
      dir = mkdtempSync(join(tmpdir(), 'manifests-'));
      changes = [];
      invalid = [];
      source = new StaticPodSource({
        nodeName: 'n1',
        dir,
        periodMs: 20_000,
        clock: new FakeClock(),
        logger,
        invalid: (origin, why) => void invalid.push(`${origin}: ${why}`),
        changed: (added, removed) => void changes.push({ added: added.map((p) => p.metadata!.name!), removed: removed.map((p) => p.metadata!.name!) }),
      });
    });
    afterEach(() => rmSync(dir, { recursive: true, force: true }));

    it('a file added, edited (a new UID: the old pod goes, the new comes), made invalid (its pods go, one report, the others run), removed; dotfiles ignored', async () => {
      writeFileSync(join(dir, 'web.yaml'), YAML);
      writeFileSync(join(dir, 'api.json'), JSON.stringify({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'api' }, spec: { containers: [{ name: 'a', image: 'i' }] } }));
      writeFileSync(join(dir, '.web.yaml.swp'), 'garbage');
      expect(source.hasSynced).toBe(false);
      await source.readAll();
      expect(source.hasSynced).toBe(true);
      expect(changes).toEqual([{ added: ['api-n1', 'web-n1'], removed: [] }]);
      const first = source.get('default', 'web-n1')!;
      await source.readAll();
      expect(changes).toHaveLength(1);
      writeFileSync(join(dir, 'web.yaml'), YAML.replace('3600', '7200'));
      await source.readAll();
      expect(changes[1]).toEqual({ added: ['web-n1'], removed: ['web-n1'] });
      expect(source.get('default', 'web-n1')!.metadata?.uid).not.toBe(first.metadata?.uid);
      writeFileSync(join(dir, 'web.yaml'), 'apiVersion: v1\nkind: Pod\nspec: {}\n');
      await source.readAll();
      await source.readAll();
      expect(changes[2]).toEqual({ added: [], removed: ['web-n1'] });
      expect(invalid).toEqual([`${join(dir, 'web.yaml')}: invalid pod: name is needed for the pod`]);
      expect(source.list().map((p) => p.metadata?.name)).toEqual(['api-n1']);
      unlinkSync(join(dir, 'api.json'));
      await source.readAll();
      expect(changes[3]).toEqual({ added: [], removed: ['api-n1'] });
    });

    it('a path to one file is that manifest; a path missing counts as read, with no pods', async () => {
      writeFileSync(join(dir, 'web.yaml'), YAML);
      const one = new StaticPodSource({ nodeName: 'n1', dir: join(dir, 'web.yaml'), periodMs: 20_000, clock: new FakeClock(), logger, invalid: () => undefined, changed: () => undefined });
      await one.readAll();
      expect(one.list().map((p) => p.metadata?.name)).toEqual(['web-n1']);
      const none = new StaticPodSource({ nodeName: 'n1', dir: join(dir, 'missing'), periodMs: 20_000, clock: new FakeClock(), logger, invalid: () => undefined, changed: () => undefined });
      await none.readAll();
      expect(none.hasSynced).toBe(true);
      expect(none.list()).toEqual([]);
    });

    it('two manifests of one pod name: the first file\'s runs', async () => {
      writeFileSync(join(dir, 'a.yaml'), YAML);
      writeFileSync(join(dir, 'b.yaml'), YAML.replace('3600', '1'));
      await source.readAll();
      expect(source.list()).toHaveLength(1);
      expect(source.get('default', 'web-n1')!.spec?.containers[0]?.command).toEqual(['sleep', '3600']);
    });
  });

  it('StaticPodSource (a URL) - its manifest\'s pods, source http; a URL that stops answering keeps the pods it gave last', async () => {
    let answer: { code: number; body: string } = { code: 200, body: YAML };
    const server = createServer((_req, res) => void res.writeHead(answer.code).end(answer.body));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/web.yaml`;
    const changes: string[] = [];
    const invalid: string[] = [];
    const source = new StaticPodSource({ nodeName: 'n1', url, periodMs: 20_000, clock: new FakeClock(), logger, invalid: (_o, why) => void invalid.push(why), changed: (added, removed) => void changes.push(`+${added.length} -${removed.length}`) });
    try {
      // Not answering at first: not read yet (the kubelet's HTTP source is seen once it answered).
      answer = { code: 503, body: '' };
      await source.readAll();
      expect(source.hasSynced).toBe(false);
      answer = { code: 200, body: YAML };
      await source.readAll();
      expect(source.hasSynced).toBe(true);
      invalid.length = 0;
      expect(source.get('default', 'web-n1')?.metadata?.annotations?.['kubernetes.io/config.source']).toBe('http');
      answer = { code: 500, body: 'down' };
      await source.readAll();
      expect(source.list()).toHaveLength(1);
      answer = { code: 200, body: 'kind: Deployment\n' };
      await source.readAll();
      expect(source.list()).toHaveLength(1);
      expect(invalid).toEqual([`cannot read it: ${url}: 500 Internal Server Error`, 'want apiVersion v1, kind Pod or PodList; got (none) Deployment']);
      expect(changes).toEqual(['+1 -0']);
    } finally {
      server.close();
    }
  });

  describe('MirrorPods and NodePods', () => {
    let calls: string[];
    let apiPods: Map<string, V1Pod>;
    let nodeUid: string | undefined;
    let createFails: number | undefined;
    const api = {
      createNamespacedPod: async ({ namespace, body }: { namespace: string; body: V1Pod }) => {
        calls.push(`create ${namespace}/${body.metadata?.name} mirror=${body.metadata?.annotations?.['kubernetes.io/config.mirror']} owner=${JSON.stringify(body.metadata?.ownerReferences)} uid=${body.metadata?.uid ?? ''} status=${JSON.stringify(body.status ?? null)}`);
        if (createFails) throw new ApiException(createFails, 'refused', {}, {});
        return body;
      },
      deleteNamespacedPod: async ({ namespace, name, body }: { namespace: string; name: string; body: { preconditions: { uid: string }; gracePeriodSeconds: number } }) => {
        calls.push(`delete ${namespace}/${name} uid=${body.preconditions.uid} grace=${body.gracePeriodSeconds}`);
        return {};
      },
    } as unknown as CoreV1Api;
    let mirrors: MirrorPods;
    let pod: V1Pod;
    beforeEach(async () => {
      calls = [];
      apiPods = new Map();
      nodeUid = 'node-uid';
      createFails = undefined;
      mirrors = new MirrorPods(api, 'n1', (ns, name) => apiPods.get(`${ns}/${name}`), () => nodeUid, logger);
      pod = staticPod((await parseManifest(YAML))[0]!, 'file', '/m/web.yaml', 'n1', 'seen');
    });
    const mirrorOf = (p: V1Pod, over: Partial<NonNullable<V1Pod['metadata']>> = {}): V1Pod => ({
      metadata: { name: p.metadata!.name, namespace: p.metadata!.namespace, uid: 'mirror-uid', annotations: { ...p.metadata!.annotations, 'kubernetes.io/config.mirror': p.metadata!.uid! }, ...over },
      status: { phase: 'Running', startTime: new Date(0) },
    });

    it('ensure - a missing mirror is made: owned by the Node (controller), the hash as config.mirror, no UID or status of the static pod; one that shows the pod is left alone', async () => {
      await mirrors.ensure(pod);
      expect(calls).toEqual([`create default/web-n1 mirror=${pod.metadata!.uid} owner=[{"apiVersion":"v1","kind":"Node","name":"n1","uid":"node-uid","controller":true}] uid= status=null`]);
      apiPods.set('default/web-n1', mirrorOf(pod));
      calls = [];
      await mirrors.ensure(pod);
      expect(calls).toEqual([]);
      expect(mirrors.mirrorOf(pod)?.metadata?.uid).toBe('mirror-uid');
    });

    it('ensure - a mirror of another hash, or being deleted, is deleted (no grace, on its UID) and made again; an API pod of the name that is no mirror is left alone; no Node yet: nothing made; AlreadyExists is no failure', async () => {
      apiPods.set('default/web-n1', mirrorOf(pod, { annotations: { 'kubernetes.io/config.mirror': 'old-hash' } }));
      await mirrors.ensure(pod);
      expect(calls[0]).toBe('delete default/web-n1 uid=mirror-uid grace=0');
      expect(calls[1]).toMatch(/^create default\/web-n1 /);
      calls = [];
      apiPods.set('default/web-n1', mirrorOf(pod, { deletionTimestamp: new Date() }));
      await mirrors.ensure(pod);
      expect(calls.map((c) => c.split(' ')[0])).toEqual(['delete', 'create']);
      calls = [];
      apiPods.set('default/web-n1', { metadata: { name: 'web-n1', namespace: 'default', uid: 'someone-elses' } });
      await mirrors.ensure(pod);
      expect(calls).toEqual([]);
      apiPods.clear();
      nodeUid = undefined;
      await mirrors.ensure(pod);
      expect(calls).toEqual([]);
      nodeUid = 'node-uid';
      createFails = 409;
      await expect(mirrors.ensure(pod)).resolves.toBeUndefined();
    });

    it('forget - deletes the mirror only while it shows that pod (an edited successor\'s mirror stays)', async () => {
      apiPods.set('default/web-n1', mirrorOf(pod, { annotations: { 'kubernetes.io/config.mirror': 'successor-hash' } }));
      await mirrors.forget(pod);
      expect(calls).toEqual([]);
      apiPods.set('default/web-n1', mirrorOf(pod));
      await mirrors.forget(pod);
      expect(calls).toEqual(['delete default/web-n1 uid=mirror-uid grace=0']);
    });

    it('NodePods - the API\'s pods but mirror pods, and the static pods as their mirrors\' status shows them; a static pod waiting for its predecessor is not there', async () => {
      const dir = mkdtempSync(join(tmpdir(), 'nodepods-'));
      try {
        writeFileSync(join(dir, 'web.yaml'), YAML);
        const statics = new StaticPodSource({ nodeName: 'n1', dir, periodMs: 20_000, clock: new FakeClock(), logger, invalid: () => undefined, changed: () => undefined });
        await statics.readAll();
        const own = statics.get('default', 'web-n1')!;
        const regular: V1Pod = { metadata: { name: 'api', namespace: 'default', uid: 'api-uid' } };
        apiPods.set('default/api', regular);
        apiPods.set('default/web-n1', mirrorOf(own));
        const informer = { start: async () => undefined, stop: () => undefined, list: () => [...apiPods.values()], get: (ns: string, name: string) => apiPods.get(`${ns}/${name}`), synced: Promise.resolve(), hasSynced: true };
        let hidden = false;
        const pods = new NodePods(informer, statics, { hidden: () => hidden, status: (p) => mirrors.mirrorOf(p)?.status });
        expect(pods.list().map((p) => [p.metadata?.uid, p.status?.phase])).toEqual([
          ['api-uid', undefined],
          [own.metadata!.uid, 'Running'],
        ]);
        expect(pods.get('default', 'web-n1')?.metadata?.uid).toBe(own.metadata!.uid);
        hidden = true;
        expect(pods.list().map((p) => p.metadata?.uid)).toEqual(['api-uid']);
        expect(pods.get('default', 'web-n1')).toBeUndefined();
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });
  });
});
