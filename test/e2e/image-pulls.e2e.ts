import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type CoreV1Api, type V1Container, type V1Pod } from '@kubernetes/client-node';
import { labEnv, podTestNames, startPodTestNode, waitFor } from '@splitlet/testing';

// Image pulls from a real registry (the lab's, with basic auth): imagePullSecrets as
// registry credentials, ErrImagePull then ImagePullBackOff, InvalidImageName.
const lab = labEnv();
const names = podTestNames('e2e-pulls');
const { nodeName, namespace } = names;
let core: CoreV1Api;
const privateImage = `${lab.registry}/splitlet-lab/private:1`;

const podOf = (name: string, container: Partial<V1Container>, pullSecrets: string[] = []): V1Pod => ({
  metadata: { name, namespace },
  spec: {
    nodeName,
    terminationGracePeriodSeconds: 2,
    imagePullSecrets: pullSecrets.map((n) => ({ name: n })),
    containers: [{ name: 'app', image: 'splitlet-lab/testbox:1', command: ['sleep', '3600'], ...container }],
  },
});
const read = (name: string) => core.readNamespacedPod({ namespace, name });
const eventsOf = async (name: string) => (await core.listNamespacedEvent({ namespace, fieldSelector: `involvedObject.name=${name}` })).items;
const waiting = (name: string, reason: string) =>
  waitFor(`${name} waiting ${reason}`, async () => {
    const p = await read(name);
    return p.status?.containerStatuses?.[0]?.state?.waiting?.reason === reason ? p : undefined;
  }, 60_000);

describe('image pulls on a splitlet node', () => {
  let stopNode: (() => Promise<void>) | undefined;
  beforeAll(async () => {
    ({ core, stop: stopNode } = await startPodTestNode(names));
    const auth = Buffer.from(`${lab.registryUser}:${lab.registryPassword}`).toString('base64');
    await core.createNamespacedSecret({
      namespace,
      body: { metadata: { name: 'regcred' }, type: 'kubernetes.io/dockerconfigjson', stringData: { '.dockerconfigjson': JSON.stringify({ auths: { [`http://${lab.registry}`]: { auth } } }) } },
    });
  });
  afterAll(async () => {
    await stopNode?.();
  });

  it('pod-sync - imagePullSecrets are the registry credentials: the private image is pulled (Always) and runs', async () => {
    await core.createNamespacedPod({ namespace, body: podOf('private', { image: privateImage, imagePullPolicy: 'Always' }, ['regcred']) });
    const pod = await waitFor('private Running', async () => {
      const p = await read('private');
      return p.status?.phase === 'Running' ? p : undefined;
    }, 90_000);
    expect(pod.status?.containerStatuses?.[0]).toMatchObject({ image: privateImage, ready: true });
    expect(pod.status?.containerStatuses?.[0]?.imageID).toMatch(/sha256:[0-9a-f]{64}$/);
    const seen = (await eventsOf('private')).map((e) => [e.reason, e.message]);
    expect(seen).toContainEqual(['Pulling', `Pulling image "${privateImage}"`]);
    expect(seen.find(([r]) => r === 'Pulled')?.[1]).toMatch(new RegExp(`^Successfully pulled image "${privateImage.replace(/[./]/g, '\\$&')}" in [\\d.]+s \\([\\d.]+s including waiting\\)\\. Image size: \\d+ bytes\\.$`));
  });

  it('pod-sync - without credentials: ErrImagePull with the registry\'s answer, then ImagePullBackOff with its Event; other pods unaffected', async () => {
    await core.createNamespacedPod({ namespace, body: podOf('nocred', { image: privateImage, imagePullPolicy: 'Always' }) });
    // ErrImagePull shows until the next sync (and may be coalesced away under load);
    // ImagePullBackOff then holds for the back-off and carries the pull's error.
    const backoff = await waiting('nocred', 'ImagePullBackOff');
    expect(backoff.status?.phase).toBe('Pending');
    expect(backoff.status?.containerStatuses?.[0]?.state?.waiting?.message).toMatch(
      new RegExp(`^Back-off pulling image "${privateImage.replace(/[./]/g, '\\$&')}": ErrImagePull: .*(no basic auth credentials|unauthorized|authentication required)`, 'i'),
    );
    // The Events are written apart from the status, in the order recorded (BackOff, then
    // Failed "Error: ImagePullBackOff"): the status may be in before them.
    const failedMessages = (evs: Awaited<ReturnType<typeof eventsOf>>) => evs.filter((e) => e.reason === 'Failed').map((e) => e.message);
    const events = await waitFor('the BackOff Event and its Failed one', async () => {
      const evs = await eventsOf('nocred');
      return evs.some((e) => e.reason === 'BackOff') && failedMessages(evs).includes('Error: ImagePullBackOff') ? evs : undefined;
    }, 30_000);
    expect(events.find((e) => e.reason === 'BackOff')).toMatchObject({ type: 'Normal', message: `Back-off pulling image "${privateImage}"` });
    expect(failedMessages(events)).toEqual(expect.arrayContaining(['Error: ErrImagePull', 'Error: ImagePullBackOff']));
    // The back-off is 10 s, then 20 s: with a sync every 2 s, at most one pull per 10 s.
    const pulls = events.filter((e) => e.reason === 'Pulling').reduce((n, e) => n + (e.count ?? 1), 0);
    const elapsed = Date.now() - new Date(backoff.metadata!.creationTimestamp!).getTime();
    expect(pulls).toBeLessThanOrEqual(1 + Math.floor(elapsed / 10_000));
    expect((await read('private')).status?.phase).toBe('Running');
  });

  it('pod-sync - an image the registry does not have: ErrImagePull', async () => {
    await core.createNamespacedPod({ namespace, body: podOf('missing', { image: `${lab.registry}/splitlet-lab/missing:1` }, ['regcred']) });
    // ErrImagePull, then ImagePullBackOff (whose message carries the pull's error).
    const pod = await waitFor('missing waiting on its pull', async () => {
      const p = await read('missing');
      return ['ErrImagePull', 'ImagePullBackOff'].includes(p.status?.containerStatuses?.[0]?.state?.waiting?.reason ?? '') ? p : undefined;
    }, 60_000);
    expect(pod.status?.containerStatuses?.[0]?.state?.waiting?.message).toMatch(/not found|manifest unknown/i);
    // The daemon's words, not the Docker client library's "(HTTP code 404) …" wrapping.
    expect(pod.status?.containerStatuses?.[0]?.state?.waiting?.message).not.toMatch(/HTTP code/);
  });

  it('pod-sync - an invalid image name: InvalidImageName and the InspectFailed Event, nothing pulled', async () => {
    await core.createNamespacedPod({ namespace, body: podOf('badname', { image: 'Splitlet-Lab/TestBox:1' }) });
    const pod = await waiting('badname', 'InvalidImageName');
    expect(pod.status?.phase).toBe('Pending');
    // (The Event travels apart from the status: it may be written a moment after it.)
    const inspectFailed = await waitFor('the InspectFailed Event', async () => (await eventsOf('badname')).find((e) => e.reason === 'InspectFailed'), 30_000);
    expect(inspectFailed.message).toBe(
      // distribution/reference: an upper-case first part is a registry host, so the repository is TestBox.
      'Failed to apply default image tag "Splitlet-Lab/TestBox:1": couldn\'t parse image name "Splitlet-Lab/TestBox:1": invalid reference format: repository name (TestBox) must be lowercase',
    );
    expect((await eventsOf('badname')).some((e) => e.reason === 'Pulling')).toBe(false);
  });
});
