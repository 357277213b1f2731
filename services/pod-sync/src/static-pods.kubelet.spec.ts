import { describe, expect, it } from 'vitest';
import { parseManifest, staticPodName } from './static-pods';

// pkg/kubelet/config (v1.36.3): TestStaticPodNameGenerate (common_test.go),
// TestExtractInvalidPods (http_test.go) and the PreventStaticPodAPIReferences rejections
// of tryDecodeSinglePod (TestDecodeSinglePodRejectsClusterTrustBundleVolumes,
// TestDecodeSinglePodRejectsResourceClaims), case for case where they apply.
const pod = (spec: object, meta: object = { name: 'test' }) => JSON.stringify({ apiVersion: 'v1', kind: 'Pod', metadata: meta, spec });
const ok = { containers: [{ name: 'image', image: 'test/image' }] };

describe('kubelet config source tables', () => {
  it.each([
    ['node1', 'static-pod1', 'static-pod1-node1'],
    ['Node1', 'static-pod1', 'static-pod1-node1'],
    ['NODE1', 'static-pod1', 'static-pod1-node1'],
  ])('TestStaticPodNameGenerate - node %s, pod %s: %s', (node, name, want) => {
    expect(staticPodName(name, node)).toBe(want);
  });

  it.each([
    ['No version', JSON.stringify({ kind: 'Pod', metadata: { name: 'test' }, spec: ok })],
    ['Invalid version', JSON.stringify({ apiVersion: 'v1betta2', kind: 'Pod', metadata: { name: 'test' }, spec: ok })],
    ['Invalid volume name', pod({ ...ok, volumes: [{ name: '_INVALID_', emptyDir: {} }] })],
    ['Duplicate volume names', pod({ ...ok, volumes: [{ name: 'repeated', emptyDir: {} }, { name: 'repeated', emptyDir: {} }] })],
    ['Unspecified container name', pod({ containers: [{ name: '', image: 'i' }] })],
    ['Invalid container name', pod({ containers: [{ name: '_INVALID_', image: 'i' }] })],
  ])('TestExtractInvalidPods - %s: refused', async (_desc, text) => {
    await expect(parseManifest(text)).rejects.toThrow();
  });

  it.each([
    ['clustertrustbundles', { volumes: [{ name: 'ctb-volume', projected: { sources: [{ clusterTrustBundle: { name: 'my-ctb', path: 'ctb-file' } }] } }] }],
    ['resourceclaims', { resourceClaims: [{ name: 'claim' }] }],
    ['serviceaccounts', { serviceAccountName: 'sa' }],
    ['secrets', { volumes: [{ name: 's', secret: { secretName: 's' } }] }],
    ['configmaps', { containers: [{ name: 'image', image: 'test/image', envFrom: [{ configMapRef: { name: 'c' } }] }] }],
    ['persistentvolumeclaims', { volumes: [{ name: 'p', persistentVolumeClaim: { claimName: 'c' } }] }],
    ['serviceaccounts (via projected volumes)', { volumes: [{ name: 't', projected: { sources: [{ serviceAccountToken: { path: 'token' } }] } }] }],
  ])('PreventStaticPodAPIReferences - %s: "static pods may not reference …"', async (resource, spec) => {
    await expect(parseManifest(pod({ ...ok, ...spec }))).rejects.toThrow(`static pods may not reference ${resource}`);
  });

  it('PreventStaticPodAPIReferences - emptyDir, hostPath and downward API volumes are allowed', async () => {
    const spec = { ...ok, volumes: [{ name: 'e', emptyDir: {} }, { name: 'h', hostPath: { path: '/tmp' } }, { name: 'd', projected: { sources: [{ downwardAPI: { items: [] } }] } }] };
    expect(await parseManifest(pod(spec))).toHaveLength(1);
  });
});
