import { describe, expect, it } from 'vitest';
import type { CoreV1Api, V1Pod, V1Secret } from '@kubernetes/client-node';
import type { ServiceClient } from '@splitlet/bus';
import type { ImageService } from '@splitlet/contracts';
import { FakeClock } from '@splitlet/testing';
import { ImageManager, invalidReference, pullCredentials, registryOf } from './image-manager';

const b64 = (s: string) => Buffer.from(s).toString('base64');
const dockerSecret = (auths: Record<string, { auth?: string; username?: string; password?: string }>): V1Secret => ({
  type: 'kubernetes.io/dockerconfigjson',
  data: { '.dockerconfigjson': b64(JSON.stringify({ auths })) },
});
const fakeCore = (secrets: Record<string, V1Secret>) =>
  ({
    readNamespacedSecret: async ({ name }: { name: string }) => {
      const s = secrets[name];
      if (!s) throw Object.assign(new Error('HTTP-Code: 404'), { code: 404 });
      return s;
    },
  }) as unknown as CoreV1Api;
const podWith = (image: string, pullSecrets: string[] = []): V1Pod => ({
  metadata: { uid: 'u1', name: 'p', namespace: 'ns' },
  spec: { containers: [{ name: 'app', image }], imagePullSecrets: pullSecrets.map((name) => ({ name })) },
});

describe('image references', () => {
  it('accepts what Docker accepts and names what it refuses', () => {
    for (const ok of ['busybox', 'busybox:1.36', 'library/busybox', '127.0.0.1:5000/a/b:1', 'localhost/x', 'registry.k8s.io/pause:3.10', `x@sha256:${'a'.repeat(64)}`, 'a.b-c_d__e/f:V1.2-x'])
      expect(invalidReference(ok), ok).toBeUndefined();
    expect(invalidReference('Busybox')).toBe('invalid reference format: repository name (library/Busybox) must be lowercase');
    expect(invalidReference('a/Bad:1')).toBe('invalid reference format: repository name (a/Bad) must be lowercase');
    for (const bad of ['', 'a b', 'x:', 'x::1', '-x', 'x/', 'x@sha256:12']) expect(invalidReference(bad), bad).toBe('invalid reference format');
    // distribution/reference's order: the repository's case is judged before the grammar (what the kubelet says of "Not A Valid:Name").
    expect(invalidReference('Not A Valid:Name')).toBe('invalid reference format: repository name (library/Not A Valid) must be lowercase');
    expect(invalidReference('a'.repeat(64))).toBe(`invalid repository name (${'a'.repeat(64)}), cannot specify 64-byte hexadecimal strings`);
  });

  it('finds the registry host and repository of an image', () => {
    expect(registryOf('busybox:1')).toEqual({ host: 'docker.io', path: 'busybox' });
    expect(registryOf('org/app')).toEqual({ host: 'docker.io', path: 'org/app' });
    expect(registryOf('127.0.0.1:5000/org/app:1')).toEqual({ host: '127.0.0.1:5000', path: 'org/app' });
    expect(registryOf('localhost/app')).toEqual({ host: 'localhost', path: 'app' });
  });
});

describe('pull credentials from imagePullSecrets', () => {
  it('matches by registry host and path prefix, most specific first; Docker Hub keys in any spelling', async () => {
    const core = fakeCore({
      hub: dockerSecret({ 'https://index.docker.io/v1/': { auth: b64('hubuser:hubpw') } }),
      reg: dockerSecret({ '127.0.0.1:5000': { username: 'u1', password: 'p1' }, 'http://127.0.0.1:5000/org': { username: 'u2', password: 'p2' }, 'other.io': { username: 'x', password: 'y' } }),
    });
    const errors: string[] = [];
    const creds = await pullCredentials(core, podWith('127.0.0.1:5000/org/app:1', ['hub', 'reg', 'missing']), '127.0.0.1:5000/org/app:1', (m) => errors.push(m));
    expect(creds.map((c) => c.username)).toEqual(['u2', 'u1']);
    expect(errors).toEqual(['Unable to retrieve some image pull secrets (missing); attempting to pull the image may not succeed.']);
    const hub = await pullCredentials(core, podWith('busybox', ['hub', 'reg']), 'busybox', () => undefined);
    expect(hub).toEqual([{ username: 'hubuser', password: 'hubpw', serverAddress: 'docker.io' }]);
    expect(await pullCredentials(core, podWith('127.0.0.1:5000/orgx/app', ['reg']), '127.0.0.1:5000/orgx/app', () => undefined)).toHaveLength(1);
  });
});

describe('ImageManager', () => {
  const setup = (opts: { present?: boolean; failPulls?: number; secrets?: Record<string, V1Secret> } = {}) => {
    const clock = new FakeClock();
    let failures = opts.failPulls ?? 0;
    const pulls: Array<{ image: string; user?: string }> = [];
    const images = {
      imageStatus: async () => ({ image: opts.present ? { id: 'sha256:1', size: 5n } : undefined }),
      pullImage: async (req: { image?: { image: string }; auth?: { username: string } }) => {
        pulls.push({ image: req.image!.image, user: req.auth?.username });
        if (failures-- > 0) throw Object.assign(new Error('remote'), { description: 'manifest unknown' });
        return { imageRef: 'sha256:1' };
      },
    } as unknown as ServiceClient<typeof ImageService>;
    const events: string[] = [];
    const ev = (type: string, reason: string, message: string) => void events.push(`${type} ${reason} ${message}`);
    return { m: new ImageManager(images, fakeCore(opts.secrets ?? {}), clock), clock, pulls, events, ev };
  };

  it('IfNotPresent with the image present pulls nothing; :latest and untagged images are always pulled', async () => {
    const { m, pulls, events, ev } = setup({ present: true });
    await m.ensure(podWith('a:1'), { name: 'app', image: 'a:1' }, ev);
    expect(pulls).toEqual([]);
    expect(events).toEqual(['Normal Pulled Container image "a:1" already present on machine and can be accessed by the pod']);
    await m.ensure(podWith('a:latest'), { name: 'app', image: 'a:latest' }, ev);
    await m.ensure(podWith('a'), { name: 'app', image: 'a' }, ev);
    expect(pulls.map((p) => p.image)).toEqual(['a:latest', 'a']);
  });

  it('a failed pull is ErrImagePull, then ImagePullBackOff for 10 s, 20 s, 40 s; a success clears it', async () => {
    const { m, clock, pulls, events, ev } = setup({ failPulls: 3 });
    const pod = podWith('r/x:1');
    const c = { name: 'app', image: 'r/x:1' };
    await expect(m.ensure(pod, c, ev)).rejects.toMatchObject({ waiting: 'ErrImagePull', message: 'manifest unknown' });
    expect(events).toEqual(['Normal Pulling Pulling image "r/x:1"', 'Warning Failed Failed to pull image "r/x:1": manifest unknown', 'Warning Failed Error: ErrImagePull']);
    await clock.advance(9_000);
    events.length = 0;
    await expect(m.ensure(pod, c, ev)).rejects.toMatchObject({ waiting: 'ImagePullBackOff', message: 'Back-off pulling image "r/x:1": ErrImagePull: manifest unknown' });
    expect(events).toEqual(['Normal BackOff Back-off pulling image "r/x:1"', 'Warning Failed Error: ImagePullBackOff']);
    await clock.advance(1_000);
    await expect(m.ensure(pod, c, ev)).rejects.toMatchObject({ waiting: 'ErrImagePull' }); // 2nd pull fails: 20 s now
    await clock.advance(19_000);
    await expect(m.ensure(pod, c, ev)).rejects.toMatchObject({ waiting: 'ImagePullBackOff' });
    await clock.advance(1_000);
    await expect(m.ensure(pod, c, ev)).rejects.toMatchObject({ waiting: 'ErrImagePull' }); // 3rd: 40 s
    await clock.advance(39_000);
    await expect(m.ensure(pod, c, ev)).rejects.toMatchObject({ waiting: 'ImagePullBackOff' });
    await clock.advance(1_000);
    await m.ensure(pod, c, ev);
    expect(pulls).toHaveLength(4);
    await m.ensure(pod, c, ev); // no back-off left
    expect(pulls).toHaveLength(5);
  });

  it('Never without the image: ErrImageNeverPull; an invalid name: InvalidImageName, nothing pulled', async () => {
    const { m, pulls, events, ev } = setup();
    await expect(m.ensure(podWith('a:1'), { name: 'app', image: 'a:1', imagePullPolicy: 'Never' }, ev)).rejects.toMatchObject({
      waiting: 'ErrImageNeverPull',
      message: 'Container image "a:1" is not present with pull policy of Never',
    });
    await expect(m.ensure(podWith('Bad:1'), { name: 'app', image: 'Bad:1' }, ev)).rejects.toMatchObject({ waiting: 'InvalidImageName' });
    expect(events).toContain('Warning InspectFailed Failed to apply default image tag "Bad:1": couldn\'t parse image name "Bad:1": invalid reference format: repository name (library/Bad) must be lowercase');
    expect(pulls).toEqual([]);
  });

  it('tries each matching credential in turn', async () => {
    const { m, pulls, ev } = setup({ failPulls: 1, secrets: { s: dockerSecret({ 'reg.io/a': { username: 'first', password: 'x' }, 'reg.io': { username: 'second', password: 'y' } }) } });
    await m.ensure(podWith('reg.io/a/b:1', ['s']), { name: 'app', image: 'reg.io/a/b:1' }, ev);
    expect(pulls.map((p) => p.user)).toEqual(['first', 'second']);
  });
});
