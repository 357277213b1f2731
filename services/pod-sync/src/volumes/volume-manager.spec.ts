import type { V1ConfigMap, V1Pod, V1Secret } from '@kubernetes/client-node';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readlinkSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { MountPropagation } from '@splitlet/contracts';
import { ObjectNotFoundError } from './errors';
import type { Mounter } from './mounter';
import type { ObjectSource } from './objects';
import type { ServiceAccountTokens } from './service-account-tokens';
import { VolumeManager } from './volume-manager';

const silent = { warn: () => undefined, info: () => undefined, debug: () => undefined } as never;
const ctx = { podIP: '', hostIP: '10.0.0.1', nodeName: 'n1' };

describe('pod-sync volume manager', () => {
  let dataDir: string;
  let configMaps: Map<string, V1ConfigMap>;
  let events: string[];
  let mounted: string[];
  let manager: VolumeManager;
  beforeEach(() => {
    dataDir = mkdtempSync(join(tmpdir(), 'vm-'));
    configMaps = new Map();
    events = [];
    mounted = [];
    const objects: ObjectSource = {
      configMap: async (_ns, name) => configMaps.get(name) ?? Promise.reject(new ObjectNotFoundError('configmap', name)),
      secret: async (_ns, name): Promise<V1Secret> => (name === 'sec' ? { data: { pw: Buffer.from('pw!').toString('base64') } } : Promise.reject(new ObjectNotFoundError('secret', name))),
    };
    const mounter: Mounter = {
      mountTmpfs: async (dir) => void mounted.push(dir),
      bind: async () => undefined,
      unmount: async (dir) => void (mounted = mounted.filter((m) => m !== dir)),
      mountPointsUnder: (dir) => mounted.filter((m) => m.startsWith(dir)),
      makeRShared: async () => undefined,
    };
    const tokens = { token: async () => 'tok', forget: () => undefined } as unknown as ServiceAccountTokens;
    manager = new VolumeManager(dataDir, 'n1', objects, tokens, mounter, (_pod, type, reason, message) => void events.push(`${type} ${reason} ${message}`), silent);
  });
  afterEach(() => rmSync(dataDir, { recursive: true, force: true }));

  const pod = (volumes: V1Pod['spec'] extends infer S ? (S extends { volumes?: infer V } ? V : never) : never): V1Pod => ({
    metadata: { name: 'web', namespace: 'ns', uid: 'u1' },
    spec: { containers: [{ name: 'app' }], volumes },
  });

  it('volumes - a configMap volume is written under pods/<uid>/volumes/kubernetes.io~configmap/<name>; a change shows on the next set-up', async () => {
    configMaps.set('cfg', { data: { k: 'one' } });
    const p = pod([{ name: 'c', configMap: { name: 'cfg' } }]);
    expect(await manager.setUp(p, ctx)).toBe(true);
    const file = join(dataDir, 'pods/u1/volumes/kubernetes.io~configmap/c/k');
    expect(readFileSync(file, 'utf8')).toBe('one');
    configMaps.set('cfg', { data: { k: 'two' } });
    await manager.setUp(p, ctx);
    expect(readFileSync(file, 'utf8')).toBe('two');
  });

  it('volumes - with an fsGroup, files belong to the group and are group-readable whatever their mode; an emptyDir is the group\'s with setgid', async () => {
    configMaps.set('cfg', { data: { k: 'one' } });
    const p = pod([{ name: 'c', configMap: { name: 'cfg', defaultMode: 0o400 } }, { name: 'e', emptyDir: {} }, { name: 'm', emptyDir: { medium: 'Memory' } }]);
    p.spec!.securityContext = { fsGroup: 2345 };
    await manager.setUp(p, ctx);
    const file = statSync(join(dataDir, 'pods/u1/volumes/kubernetes.io~configmap/c/k'));
    expect([file.gid, (file.mode & 0o7777).toString(8)]).toEqual([2345, '440']);
    const dir = statSync(join(dataDir, 'pods/u1/volumes/kubernetes.io~configmap/c'));
    expect((dir.mode & 0o777).toString(8)).toBe('755');
    const empty = statSync(join(dataDir, 'pods/u1/volumes/kubernetes.io~empty-dir/e'));
    expect([empty.gid, (empty.mode & 0o7777).toString(8)]).toEqual([2345, '2777']);
    // A tmpfs root keeps tmpfs's sticky bit (the kubelet mounts it with no mode): dgtrwxrwxrwx.
    const memory = statSync(join(dataDir, 'pods/u1/volumes/kubernetes.io~empty-dir/m'));
    expect([memory.gid, (memory.mode & 0o7777).toString(8)]).toEqual([2345, '3777']);
    // Set up again: nothing changed, so nothing is rewritten.
    const before = readlinkSync(join(dataDir, 'pods/u1/volumes/kubernetes.io~configmap/c/..data'));
    await manager.setUp(p, ctx);
    expect(readlinkSync(join(dataDir, 'pods/u1/volumes/kubernetes.io~configmap/c/..data'))).toBe(before);
  });

  it('volumes - without an fsGroup an emptyDir is 0777, on tmpfs 1777 (setupDir; tmpfs\'s root mode)', async () => {
    await manager.setUp(pod([{ name: 'e', emptyDir: {} }, { name: 'm', emptyDir: { medium: 'Memory' } }]), ctx);
    const mode = (name: string) => (statSync(join(dataDir, `pods/u1/volumes/kubernetes.io~empty-dir/${name}`)).mode & 0o7777).toString(8);
    expect([mode('e'), mode('m')]).toEqual(['777', '1777']);
  });

  it('volumes - secret and projected volumes are written only after a tmpfs is on their directory', async () => {
    await manager.setUp(pod([{ name: 's', secret: { secretName: 'sec' } }, { name: 'p', projected: { sources: [{ serviceAccountToken: { path: 'token' } }] } }]), ctx);
    expect(mounted).toEqual([join(dataDir, 'pods/u1/volumes/kubernetes.io~secret/s'), join(dataDir, 'pods/u1/volumes/kubernetes.io~projected/p')]);
    expect(readFileSync(join(mounted[1]!, 'token'), 'utf8')).toBe('tok');
  });

  it('volumes - a missing ConfigMap is a FailedMount in the kubelet\'s words and holds the pod; optional ones are empty', async () => {
    expect(await manager.setUp(pod([{ name: 'c', configMap: { name: 'nope' } }]), ctx)).toBe(false);
    expect(events).toEqual(['Warning FailedMount MountVolume.SetUp failed for volume "c" : configmap "nope" not found']);
    expect(await manager.setUp(pod([{ name: 'c', configMap: { name: 'nope', optional: true } }]), ctx)).toBe(true);
  });

  it('volumes - when the data dir cannot be prepared (no mount rights), each volume is a FailedMount saying why', async () => {
    const failing = new VolumeManager(dataDir, 'n1', { configMap: async () => ({}), secret: async () => ({}) }, {} as ServiceAccountTokens, {
      mountTmpfs: async () => undefined,
      bind: async () => undefined,
      unmount: async () => undefined,
      mountPointsUnder: () => [],
      makeRShared: async () => Promise.reject(new Error('mount: permission denied')),
    }, (_pod, type, reason, message) => void events.push(`${type} ${reason} ${message}`), silent);
    expect(await failing.setUp(pod([{ name: 'a', emptyDir: {} }, { name: 'b', configMap: { name: 'cfg' } }]), ctx)).toBe(false);
    expect(events).toEqual([
      'Warning FailedMount MountVolume.SetUp failed for volume "a" : mount: permission denied',
      'Warning FailedMount MountVolume.SetUp failed for volume "b" : mount: permission denied',
    ]);
  });

  it('volumes - a volume set up once does not hold the pod back when a refresh fails', async () => {
    configMaps.set('cfg', { data: { k: 'one' } });
    const p = pod([{ name: 'c', configMap: { name: 'cfg' } }]);
    await manager.setUp(p, ctx);
    configMaps.delete('cfg');
    expect(await manager.setUp(p, ctx)).toBe(true);
    expect(events).toHaveLength(1);
  });

  it('mounts - API-data volumes read-only, propagation translated, Bidirectional only when privileged', async () => {
    const p = pod([{ name: 'c', configMap: { name: 'cfg' } }, { name: 'h', hostPath: { path: '/srv' } }, { name: 'e', emptyDir: {} }]);
    const mounts = await manager.mountsFor(p, { name: 'app', volumeMounts: [{ name: 'c', mountPath: '/c' }, { name: 'h', mountPath: '/h', mountPropagation: 'HostToContainer' }, { name: 'e', mountPath: '/e', readOnly: true }] }, []);
    expect(mounts).toEqual([
      { containerPath: '/c', hostPath: join(dataDir, 'pods/u1/volumes/kubernetes.io~configmap/c'), readonly: true, propagation: MountPropagation.PRIVATE_UNSPECIFIED },
      { containerPath: '/h', hostPath: '/srv', readonly: false, propagation: MountPropagation.HOST_TO_CONTAINER },
      { containerPath: '/e', hostPath: join(dataDir, 'pods/u1/volumes/kubernetes.io~empty-dir/e'), readonly: true, propagation: MountPropagation.PRIVATE_UNSPECIFIED },
    ]);
    const bidi = { name: 'app', volumeMounts: [{ name: 'h', mountPath: '/h', mountPropagation: 'Bidirectional' }] };
    await expect(manager.mountsFor(p, bidi, [])).rejects.toThrow('Bidirectional mount propagation is available only to privileged containers');
    expect((await manager.mountsFor(p, { ...bidi, securityContext: { privileged: true } }, []))[0]?.propagation).toBe(MountPropagation.BIDIRECTIONAL);
    await expect(manager.mountsFor(p, { name: 'app', volumeMounts: [{ name: 'x', mountPath: '/x' }] }, [])).rejects.toThrow('cannot find volume "x" to mount into container "app"');
  });

  it('clean-up - only this node\'s pod directories are its to clean up (nodes may share a data dir)', async () => {
    configMaps.set('cfg', { data: { k: 'one' } });
    await manager.setUp(pod([{ name: 'c', configMap: { name: 'cfg' } }]), ctx);
    mkdirSync(join(dataDir, 'pods/other-node-pod'), { recursive: true });
    writeFileSync(join(dataDir, 'pods/other-node-pod/node-name'), 'n2');
    expect(manager.podDirs()).toEqual(['u1']);
  });

  it('tear-down - mounts undone, then the pod\'s directory removed', async () => {
    await manager.setUp(pod([{ name: 's', secret: { secretName: 'sec' } }, { name: 'e', emptyDir: { medium: 'Memory' } }]), ctx);
    expect(mounted).toHaveLength(2);
    await manager.tearDown('u1');
    expect(mounted).toEqual([]);
    expect(existsSync(join(dataDir, 'pods/u1'))).toBe(false);
  });
});
