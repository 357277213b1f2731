import { ApiException, type V1PersistentVolume, type V1PersistentVolumeClaim, type V1Pod } from '@kubernetes/client-node';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Mounter } from './mounter';
import type { ObjectSource } from './objects';
import { ClaimVolumeError, resolveClaim, type ClaimSource } from './persistent-volumes';
import type { ServiceAccountTokens } from './service-account-tokens';
import { setVolumeOwnership, VolumeManager } from './volume-manager';

const silent = { warn: () => undefined, info: () => undefined, debug: () => undefined } as never;
const ctx = { podIP: '', hostIP: '10.0.0.1', nodeName: 'n1' };
const LABELS = { 'kubernetes.io/hostname': 'n1', 'topology.example/zone': 'a' };

const pod = (readOnly = false): V1Pod => ({
  metadata: { name: 'db', namespace: 'ns', uid: 'u1' },
  spec: {
    containers: [{ name: 'app', volumeMounts: [{ name: 'data', mountPath: '/data' }, { name: 'cfg', mountPath: '/cfg' }] }],
    volumes: [
      { name: 'data', persistentVolumeClaim: { claimName: 'claim', ...(readOnly ? { readOnly } : {}) } },
      { name: 'cfg', emptyDir: {} },
    ],
  },
});
const boundClaim = (over: Partial<V1PersistentVolumeClaim> = {}): V1PersistentVolumeClaim => ({
  metadata: { name: 'claim', namespace: 'ns', uid: 'claim-uid', finalizers: ['kubernetes.io/pvc-protection'] },
  spec: { volumeName: 'pv-1' },
  status: { phase: 'Bound' },
  ...over,
});
const localPV = (path: string, over: Partial<NonNullable<V1PersistentVolume['spec']>> = {}): V1PersistentVolume => ({
  metadata: { name: 'pv-1' },
  spec: {
    local: { path },
    claimRef: { uid: 'claim-uid', name: 'claim', namespace: 'ns' },
    nodeAffinity: { required: { nodeSelectorTerms: [{ matchExpressions: [{ key: 'kubernetes.io/hostname', operator: 'In', values: ['n1'] }] }] } },
    ...over,
  },
});

describe('persistentVolumeClaim volumes (the kubelet\'s populator and its local and hostPath plugins)', () => {
  let claims: Map<string, V1PersistentVolumeClaim>;
  let volumes: Map<string, V1PersistentVolume>;
  let source: ClaimSource;
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'pv-'));
    claims = new Map([['claim', boundClaim()]]);
    volumes = new Map([['pv-1', localPV(dir)]]);
    source = {
      claim: async (_ns, name) => claims.get(name) ?? Promise.reject(new ApiException(404, 'not found', {}, {})),
      volume: async (name) => volumes.get(name) ?? Promise.reject(new ApiException(404, 'not found', {}, {})),
    };
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  const failure = (p: V1Pod = pod()) =>
    resolveClaim(p, p.spec!.volumes![0]!, source, LABELS).then(
      () => undefined,
      (err: unknown) => (err instanceof ClaimVolumeError ? `${err.kind}: ${err.message}` : `other: ${(err as Error).message}`),
    );

  it('resolveClaim - a bound claim gives its local PV\'s path and the pod volume\'s readOnly', async () => {
    expect(await resolveClaim(pod(true), pod(true).spec!.volumes![0]!, source, LABELS)).toEqual({ pvName: 'pv-1', path: dir, readOnly: true, plugin: 'local' });
    volumes.set('pv-1', { ...localPV(dir), spec: { hostPath: { path: '/srv/x', type: 'DirectoryOrCreate' }, claimRef: { uid: 'claim-uid' } } });
    expect(await resolveClaim(pod(), pod().spec!.volumes![0]!, source, LABELS)).toEqual({ pvName: 'pv-1', path: '/srv/x', readOnly: false, plugin: 'hostPath', hostPathType: 'DirectoryOrCreate' });
  });

  it('resolveClaim - the populator\'s messages: a claim missing, unbound, being deleted without its protection; a PV missing or bound to another claim; no plugin', async () => {
    claims.set('claim', boundClaim({ status: { phase: 'Pending' }, spec: {} }));
    expect(await failure()).toBe('process: error processing PVC ns/claim: PVC is not bound');
    claims.set('claim', boundClaim({ spec: {} }));
    expect(await failure()).toBe('process: error processing PVC ns/claim: PVC has empty pvc.Spec.VolumeName');
    claims.set('claim', boundClaim({ metadata: { name: 'claim', uid: 'claim-uid', deletionTimestamp: new Date() } }));
    expect(await failure()).toBe('process: error processing PVC ns/claim: PVC is being deleted');
    // Protected, a claim being deleted still serves the pods that use it.
    claims.set('claim', boundClaim({ metadata: { name: 'claim', uid: 'claim-uid', deletionTimestamp: new Date(), finalizers: ['kubernetes.io/pvc-protection'] } }));
    expect(await failure()).toBeUndefined();
    claims.delete('claim');
    expect(await failure()).toBe('process: error processing PVC ns/claim: failed to fetch PVC from API server: persistentvolumeclaims "claim" not found');
    claims.set('claim', boundClaim());
    volumes.clear();
    expect(await failure()).toBe('process: error processing PVC ns/claim: failed to fetch PV pv-1 from API server: persistentvolumes "pv-1" not found');
    volumes.set('pv-1', localPV(dir, { volumeMode: 'Block' }));
    expect(await failure()).toBe('process: volume data has volumeMode Block, but is specified in volumeMounts');
    volumes.set('pv-1', localPV(dir, { claimRef: undefined }));
    expect(await failure()).toBe('process: error processing PVC ns/claim: found PV object pv-1 but it has a nil pv.Spec.ClaimRef indicating it is not yet bound to the claim');
    volumes.set('pv-1', localPV(dir, { claimRef: { uid: 'other' } }));
    expect(await failure()).toBe('process: error processing PVC ns/claim: found PV object pv-1 but its pv.Spec.ClaimRef.UID other does not point to claim.UID claim-uid');
    volumes.set('pv-1', { metadata: { name: 'pv-1' }, spec: { nfs: { server: 'nfs', path: '/' }, claimRef: { uid: 'claim-uid' } } });
    expect(await failure()).toBe('process: failed to get Plugin from volumeSpec for volume "pv-1" err=no volume plugin matched');
  });

  it('resolveClaim - a PV whose node affinity another node meets fails its mount: the NodeAffinity check\'s message', async () => {
    volumes.set('pv-1', localPV(dir, { nodeAffinity: { required: { nodeSelectorTerms: [{ matchExpressions: [{ key: 'kubernetes.io/hostname', operator: 'In', values: ['n2'] }] }] } } }));
    expect(await failure()).toBe('mount: MountVolume.NodeAffinity check failed for volume "pv-1" : no matching NodeSelectorTerms');
    // Terms are ORed; labels only (no fields), as storagehelpers.CheckNodeAffinity.
    volumes.set('pv-1', localPV(dir, { nodeAffinity: { required: { nodeSelectorTerms: [{ matchFields: [{ key: 'metadata.name', operator: 'In', values: ['n1'] }] }, { matchExpressions: [{ key: 'topology.example/zone', operator: 'In', values: ['a'] }] }] } } }));
    expect(await failure()).toBeUndefined();
  });

  describe('VolumeManager', () => {
    let dataDir: string;
    let events: string[];
    let manager: VolumeManager;
    beforeEach(() => {
      dataDir = mkdtempSync(join(tmpdir(), 'vm-pv-'));
      events = [];
      const objects = {} as ObjectSource;
      const mounter: Mounter = { mountTmpfs: async () => undefined, bind: async () => undefined, unmount: async () => undefined, mountPointsUnder: () => [], makeRShared: async () => undefined };
      manager = new VolumeManager(dataDir, 'n1', objects, { forget: () => undefined } as unknown as ServiceAccountTokens, mounter, (_p, type, reason, message) => void events.push(`${type} ${reason} ${message}`), silent, source, async () => LABELS);
    });
    afterEach(() => rmSync(dataDir, { recursive: true, force: true }));

    it('a local PV: the containers bind its directory, read-only when the pod volume says so; once set up, the claim is not read again', async () => {
      const p = pod(true);
      expect(await manager.setUp(p, ctx)).toBe(true);
      expect(events).toEqual([]);
      const mounts = await manager.mountsFor(p, p.spec!.containers[0]!, []);
      expect(mounts[0]).toMatchObject({ containerPath: '/data', hostPath: dir, readonly: true });
      claims.clear();
      expect(await manager.setUp(p, ctx)).toBe(true);
      await manager.tearDown('u1');
      expect(() => manager.volumePath(p, p.spec!.volumes![0]!)).toThrow(/not set up yet/);
    });

    it('a PV with node affinity while the node\'s labels are not read yet: the pod waits, and no Event says anything failed', async () => {
      let labels: Record<string, string> | undefined = undefined;
      const early = new VolumeManager(dataDir, 'n1', {} as ObjectSource, { forget: () => undefined } as unknown as ServiceAccountTokens, { mountTmpfs: async () => undefined, bind: async () => undefined, unmount: async () => undefined, mountPointsUnder: () => [], makeRShared: async () => undefined }, (_p, type, reason, message) => void events.push(`${type} ${reason} ${message}`), silent, source, async () => labels);
      expect(await early.setUp(pod(), ctx)).toBe(false);
      expect(events).toEqual([]);
      labels = LABELS;
      expect(await early.setUp(pod(), ctx)).toBe(true);
    });

    it('an unbound claim: the pod waits, one Event with the kubelet\'s WaitForAttachAndMount message; bound later, it is set up', async () => {
      claims.set('claim', boundClaim({ status: { phase: 'Pending' }, spec: {} }));
      expect(await manager.setUp(pod(), ctx)).toBe(false);
      expect(events).toEqual(['Warning FailedMount Unable to attach or mount volumes: unmounted volumes=[data], unattached volumes=[], failed to process volumes=[data]: error processing PVC ns/claim: PVC is not bound']);
      claims.set('claim', boundClaim());
      expect(await manager.setUp(pod(), ctx)).toBe(true);
    });

    it('a local path that is missing, or a file; a hostPath PV of the wrong type: the plugins\' FailedMount messages', async () => {
      volumes.set('pv-1', localPV(join(dir, 'gone')));
      expect(await manager.setUp(pod(), ctx)).toBe(false);
      writeFileSync(join(dir, 'file'), 'x');
      volumes.set('pv-1', localPV(join(dir, 'file')));
      expect(await manager.setUp(pod(), ctx)).toBe(false);
      volumes.set('pv-1', { metadata: { name: 'pv-1' }, spec: { hostPath: { path: join(dir, 'file'), type: 'Directory' }, claimRef: { uid: 'claim-uid' } } });
      expect(await manager.setUp(pod(), ctx)).toBe(false);
      expect(events).toEqual([
        `Warning FailedMount MountVolume.NewMounter initialization failed for volume "pv-1" : path "${join(dir, 'gone')}" does not exist`,
        'Warning FailedMount MountVolume.NewMounter initialization failed for volume "pv-1" : only directory and block device are supported',
        expect.stringMatching(/^Warning FailedMount MountVolume\.SetUp failed for volume "pv-1" : /),
      ]);
      // DirectoryOrCreate makes it.
      volumes.set('pv-1', { metadata: { name: 'pv-1' }, spec: { hostPath: { path: join(dir, 'made'), type: 'DirectoryOrCreate' }, claimRef: { uid: 'claim-uid' } } });
      expect(await manager.setUp(pod(), ctx)).toBe(true);
      expect(statSync(join(dir, 'made')).isDirectory()).toBe(true);
    });
  });

  it('setVolumeOwnership - every file and directory the fsGroup\'s (0660, directories 0770 and setgid); a symbolic link, and what it points to outside, left alone', () => {
    const root = mkdtempSync(join(tmpdir(), 'own-'));
    const outside = mkdtempSync(join(tmpdir(), 'outside-'));
    try {
      mkdirSync(join(root, 'sub'));
      writeFileSync(join(root, 'sub', 'data'), 'x');
      chmodSync(join(root, 'sub', 'data'), 0o600);
      writeFileSync(join(outside, 'secret'), 's');
      chmodSync(join(outside, 'secret'), 0o600);
      symlinkSync(join(outside, 'secret'), join(root, 'link'));
      symlinkSync(outside, join(root, 'sub', 'dirlink'));
      setVolumeOwnership(root, 4242);
      for (const p of [root, join(root, 'sub')]) expect(statSync(p)).toMatchObject({ gid: 4242, mode: expect.any(Number) });
      expect(statSync(join(root, 'sub')).mode & 0o7777).toBe(0o2770 | (statSync(join(root, 'sub')).mode & 0o7));
      expect(statSync(join(root, 'sub', 'data'))).toMatchObject({ gid: 4242 });
      expect(statSync(join(root, 'sub', 'data')).mode & 0o777).toBe(0o660);
      expect(statSync(join(outside, 'secret')).gid).not.toBe(4242);
      expect(statSync(join(outside, 'secret')).mode & 0o777).toBe(0o600);
      expect(statSync(outside).gid).not.toBe(4242);
    } finally {
      rmSync(root, { recursive: true, force: true });
      rmSync(outside, { recursive: true, force: true });
    }
  });
});
