import type { V1Pod } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { configMapEntries, downwardPayload, keysPayload, secretEntries } from './payload';

const text = (p: Map<string, { data: Buffer; mode: number }>) => Object.fromEntries([...p].map(([k, f]) => [k, [f.data.toString('utf8'), f.mode.toString(8)]]));

describe('pod-sync volume payloads', () => {
  const cm = { data: { a: 'alpha', b: 'beta' }, binaryData: { bin: Buffer.from([0, 1, 2]).toString('base64') } };
  const entries = configMapEntries(cm);

  it('payload - every key under its own name with the default mode when there are no items (data and binaryData)', () => {
    const p = keysPayload('configmap', entries, undefined, 0o644, false);
    expect(text(p)).toMatchObject({ a: ['alpha', '644'], b: ['beta', '644'] });
    expect([...p.get('bin')!.data]).toEqual([0, 1, 2]);
  });

  it('payload - items put a key at a path with its own mode', () => {
    const p = keysPayload('configmap', entries, [{ key: 'a', path: 'dir/x', mode: 0o600 }, { key: 'b', path: 'y' }], 0o640, false);
    expect(text(p)).toEqual({ 'dir/x': ['alpha', '600'], y: ['beta', '640'] });
  });

  it('payload - a missing key fails in the kubelet\'s words unless the volume is optional', () => {
    expect(() => keysPayload('configmap', entries, [{ key: 'nope', path: 'n' }], 0o644, false)).toThrow('configmap references non-existent config key: nope');
    expect(() => keysPayload('secret', entries, [{ key: 'nope', path: 'n' }], 0o644, false)).toThrow('references non-existent secret key: nope');
    expect(text(keysPayload('configmap', entries, [{ key: 'nope', path: 'n' }, { key: 'a', path: 'a' }], 0o644, true))).toEqual({ a: ['alpha', '644'] });
  });

  it('payload - secret data is base64 in the API and plain in the file', () => {
    expect(secretEntries({ data: { pw: Buffer.from('s3cret').toString('base64') } }).get('pw')!.toString()).toBe('s3cret');
  });

  it('payload - downward API files: labels as sorted key="value" lines, a resource in the divisor\'s unit', () => {
    const pod: V1Pod = {
      metadata: { name: 'web', namespace: 'ns', labels: { z: '1', a: 'two' } },
      spec: { containers: [{ name: 'app', resources: { limits: { memory: '64Mi' } } }] },
    };
    const p = downwardPayload(
      pod,
      [
        { path: 'labels', fieldRef: { fieldPath: 'metadata.labels' } },
        { path: 'name', fieldRef: { fieldPath: 'metadata.name' }, mode: 0o400 },
        { path: 'mem', resourceFieldRef: { containerName: 'app', resource: 'limits.memory', divisor: '1Mi' } },
        // An unset divisor ("0" in the API) is 1; an unset limit is the node's allocatable.
        { path: 'cpu', resourceFieldRef: { containerName: 'app', resource: 'limits.cpu', divisor: '0' } },
        { path: 'mem-bytes', resourceFieldRef: { containerName: 'app', resource: 'limits.memory', divisor: '0' } },
      ],
      0o644,
      { podIP: '', hostIP: '', nodeName: 'n', allocatable: { cpu: '3', memory: '4Gi' } },
    );
    expect(text(p)).toEqual({ labels: ['a="two"\nz="1"', '644'], name: ['web', '400'], mem: ['64', '644'], cpu: ['3', '644'], 'mem-bytes': ['67108864', '644'] });
  });
});
