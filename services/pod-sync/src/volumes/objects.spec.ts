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

  it("objects - the Node authorizer's refusal of a pod bound a moment ago (not in its graph yet) is asked again: the ConfigMap's absence shows, as the kubelet's \"not found\"", async () => {
    const lag = (kind: string, name: string) =>
      new ApiException(403, 'Forbidden', `{"message":"${kind} \\"${name}\\" is forbidden: User \\"system:node:n\\" cannot get resource \\"${kind}\\" in API group \\"\\" in the namespace \\"ns\\": no relationship found between node 'n' and this object"}`, {});
    let reads = 0;
    const api = {
      readNamespacedConfigMap: async ({ name }: { name: string }) => {
        if (++reads <= 2) throw lag('configmaps', name);
        throw new ApiException(404, 'Not Found', '{"message":"configmaps \\"later\\" not found"}', {});
      },
      readNamespacedSecret: async ({ name }: { name: string }) => {
        throw lag('secrets', name);
      },
    } as unknown as CoreV1Api;
    const objects = new ApiObjectSource(api, 1000);
    await expect(objects.configMap('ns', 'later')).rejects.toThrow('configmap "later" not found');
    expect(reads).toBe(3);
    // a refusal that stands (the pod is not this node's) is reported as it is, after ~0.75 s
    const t0 = Date.now();
    await expect(objects.secret('ns', 'theirs')).rejects.toThrow("failed to get secret ns/theirs: HTTP 403: secrets \"theirs\" is forbidden: User \"system:node:n\" cannot get resource \"secrets\" in API group \"\" in the namespace \"ns\": no relationship found between node 'n' and this object");
    expect(Date.now() - t0).toBeGreaterThanOrEqual(700);
  });
});
