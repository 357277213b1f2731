import { ApiException, type CoreV1Api } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { ApiObjectSource } from './objects';

describe('pod-sync object source', () => {
  it('objects - a ConfigMap read is reused within the TTL and read again after it; a 404 reads as the kubelet\'s "configmap \\"x\\" not found"', async () => {
    const clock = { now: 0 };
    let version = 0;
    const api = {
      readNamespacedConfigMap: async ({ name }: { name: string }) => {
        if (name === 'missing') throw new ApiException(404, 'Not Found', '{"message":"configmaps \\"missing\\" not found"}', {});
        return { data: { v: String(++version) } };
      },
      readNamespacedSecret: async ({ name }: { name: string }) => {
        throw new ApiException(403, 'Forbidden', `{"message":"secrets \\"${name}\\" is forbidden"}`, {});
      },
    } as unknown as CoreV1Api;
    const objects = new ApiObjectSource(api, 1000, () => clock.now);
    expect((await objects.configMap('ns', 'cfg')).data).toEqual({ v: '1' });
    clock.now = 999;
    expect((await objects.configMap('ns', 'cfg')).data).toEqual({ v: '1' });
    clock.now = 1000;
    expect((await objects.configMap('ns', 'cfg')).data).toEqual({ v: '2' });
    await expect(objects.configMap('ns', 'missing')).rejects.toThrow('configmap "missing" not found');
    await expect(objects.secret('ns', 'other')).rejects.toThrow('failed to get secret ns/other: HTTP 403: secrets "other" is forbidden');
  });
});
