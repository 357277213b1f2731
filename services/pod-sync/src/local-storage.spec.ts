import { linkSync, mkdirSync, mkdtempSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { V1Container, V1Pod, V1Volume } from '@kubernetes/client-node';
import { diskUsage, hasLocalStorageLimits, localStorageViolation, type PodStorageUse } from './local-storage';

const Mi = 1024n * 1024n;
const pod = (containers: Partial<V1Container>[], volumes: V1Volume[] = []): V1Pod => ({
  metadata: { name: 'p', namespace: 'ns', uid: 'u' },
  spec: { containers: containers.map((c, i) => ({ name: `c${i}`, ...c })), volumes },
});
const limit = (q: string) => ({ resources: { limits: { 'ephemeral-storage': q } } });
const use = (containers: [string, bigint, bigint][], volumes: [string, bigint][] = []): PodStorageUse => ({
  containers: new Map(containers.map(([n, rootfs, logs]) => [n, { rootfs, logs }])),
  volumes: new Map(volumes),
});

describe('local storage limits (the kubelet\'s localStorageEviction)', () => {
  it('hasLocalStorageLimits - an emptyDir sizeLimit or a container\'s ephemeral-storage limit', () => {
    expect(hasLocalStorageLimits(pod([{}]))).toBe(false);
    expect(hasLocalStorageLimits(pod([{}], [{ name: 'v', emptyDir: {} }]))).toBe(false);
    expect(hasLocalStorageLimits(pod([{}], [{ name: 'v', emptyDir: { sizeLimit: '1Mi' } }]))).toBe(true);
    expect(hasLocalStorageLimits(pod([{}, limit('10Mi')]))).toBe(true);
  });

  it('localStorageViolation - an emptyDir over its sizeLimit, first, in the kubelet\'s words', () => {
    const p = pod([limit('1Gi')], [{ name: 'scratch', emptyDir: { sizeLimit: '10Mi' } }]);
    expect(localStorageViolation(p, use([['c0', 0n, 0n]], [['scratch', 10n * Mi]]))).toBeUndefined();
    expect(localStorageViolation(p, use([['c0', 2n * 1024n * Mi, 0n]], [['scratch', 10n * Mi + 1n]]))).toBe('Usage of EmptyDir volume "scratch" exceeds the limit "10Mi". ');
  });

  it('localStorageViolation - the pod\'s total (containers\' layers and logs, disk emptyDirs, ConfigMaps) over the sum of its containers\' limits', () => {
    const p = pod([limit('10Mi'), limit('10Mi'), {}], [{ name: 'scratch', emptyDir: {} }, { name: 'mem', emptyDir: { medium: 'Memory' } }]);
    // 19 MiB in all: within 20Mi, though c0 alone is near its limit and the memory volume holds more.
    expect(localStorageViolation(p, use([['c0', 8n * Mi, Mi], ['c1', 2n * Mi, 0n], ['c2', 0n, 0n]], [['scratch', 8n * Mi], ['mem', 100n * Mi]]))).toBeUndefined();
    expect(localStorageViolation(p, use([['c0', 8n * Mi, Mi], ['c1', 2n * Mi, 0n], ['c2', 2n * Mi, 0n]], [['scratch', 8n * Mi]]))).toBe('Pod ephemeral local storage usage exceeds the total limit of containers 20Mi. ');
  });

  it('localStorageViolation - a container over its own limit: its writable layer and its log', () => {
    const p = pod([limit('10Mi'), limit('100Mi')]);
    expect(localStorageViolation(p, use([['c0', 9n * Mi, Mi], ['c1', 0n, 0n]]))).toBeUndefined();
    expect(localStorageViolation(p, use([['c0', 9n * Mi, Mi + 1n], ['c1', 0n, 0n]]))).toBe('Container c0 exceeded its local ephemeral storage limit "10Mi". ');
    expect(localStorageViolation(pod([limit('10M')]), use([['c0', 11_000_000n, 0n]]))).toBe('Pod ephemeral local storage usage exceeds the total limit of containers 10M. ');
  });

  it('diskUsage - the blocks a tree holds, hard links once, symlinks not followed; undefined when absent', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'du-'));
    mkdirSync(join(dir, 'sub'));
    writeFileSync(join(dir, 'sub/a'), Buffer.alloc(1024 * 1024, 1));
    linkSync(join(dir, 'sub/a'), join(dir, 'b'));
    symlinkSync('/usr', join(dir, 'usr'));
    const used = (await diskUsage(dir))!;
    expect(used).toBeGreaterThanOrEqual(1024n * 1024n);
    expect(used).toBeLessThan(1024n * 1024n + 64n * 1024n);
    expect(await diskUsage(join(dir, 'none'))).toBeUndefined();
  });
});
