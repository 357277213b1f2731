import { mkdtempSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { V1Pod } from '@kubernetes/client-node';
import { createLogger } from '@splitlet/telemetry';
import { FakeClock } from '@splitlet/testing';
import { isMirrorPodOf, isStaticPod, parseManifest, rfc3339Nano, StaticPodSource, staticPod } from './static-pods';

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
  it('parseManifest - a Pod in YAML or JSON, a PodList, several YAML documents; what is no pod is refused with why', async () => {
    expect((await parseManifest(YAML)).map((p) => p.metadata?.name)).toEqual(['web']);
    expect((await parseManifest(JSON.stringify({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'j' }, spec: { containers: [{ name: 'a', image: 'i' }] } })))[0]?.metadata?.name).toBe('j');
    expect((await parseManifest(JSON.stringify({ apiVersion: 'v1', kind: 'PodList', items: [{ metadata: { name: 'a' }, spec: { containers: [{ name: 'c', image: 'i' }] } }, { metadata: { name: 'b' }, spec: { containers: [{ name: 'c', image: 'i' }] } }] }))).map((p) => p.metadata?.name)).toEqual(['a', 'b']);
    expect((await parseManifest(`${YAML}---\n${YAML.replace('name: web', 'name: api')}`)).map((p) => p.metadata?.name)).toEqual(['web', 'api']);
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
      await source.readAll();
      expect(source.get('default', 'web-n1')?.metadata?.annotations?.['kubernetes.io/config.source']).toBe('http');
      answer = { code: 500, body: 'down' };
      await source.readAll();
      expect(source.list()).toHaveLength(1);
      expect(invalid).toEqual([`cannot read it: ${url}: 500 Internal Server Error`]);
      expect(changes).toEqual(['+1 -0']);
    } finally {
      server.close();
    }
  });
});
