import { describe, expect, it } from 'vitest';
import { dockerMessage } from './docker';
import { ContainerState, MountPropagation, PodSandboxState, Protocol, create, HostAliasSchema, MountSchema, PortMappingSchema } from '@splitlet/contracts';
import {
  Demuxer,
  containerName,
  dockerTimeToNanos,
  dockerUser,
  extraHosts,
  extractLabels,
  imageRef,
  imageUserIsRoot,
  makeLabels,
  mapContainerState,
  matchesFilter,
  mountBinds,
  nodeListFilter,
  nonRootViolation,
  parseName,
  portBindings,
  pullErrorIsNotFound,
  sandboxName,
} from './docker-mapping';

const pod = { name: 'web', namespace: 'team-a', uid: '6f1c-22', attempt: 0 };

describe('docker-mapping names', () => {
  it('sandboxName - k8s_POD_<pod>_<ns>_<uid>_<attempt>, as dockershim', () => {
    expect(sandboxName({ ...pod, attempt: 2, $typeName: 'splitlet.runtime.v1.PodSandboxMetadata' })).toBe('k8s_POD_web_team-a_6f1c-22_2');
  });

  it('containerName - k8s_<container>_<pod>_<ns>_<uid>_<attempt>, as dockershim', () => {
    expect(containerName(pod, { name: 'nginx', attempt: 3 })).toBe('k8s_nginx_web_team-a_6f1c-22_3');
  });

  it('parseName - reads a name back, with or without Docker\'s leading slash; anything else is not ours', () => {
    expect(parseName('/k8s_nginx_web_team-a_6f1c-22_3')).toEqual({ containerName: 'nginx', podName: 'web', podNamespace: 'team-a', podUid: '6f1c-22', attempt: 3 });
    expect(parseName('k8s_POD_web_team-a_6f1c-22_0')?.containerName).toBe('POD');
    expect(parseName('/strange_buck')).toBeUndefined();
    expect(parseName('/k8s_a_b_c_d_x')).toBeUndefined();
  });
});

describe('docker-mapping labels', () => {
  it('makeLabels - keeps labels and stores annotations under annotation.<key>', () => {
    expect(makeLabels({ app: 'web' }, { 'kubernetes.io/config.seen': 'now' })).toEqual({ app: 'web', 'annotation.kubernetes.io/config.seen': 'now' });
  });

  it('extractLabels - gives labels and annotations back without the executor\'s own labels', () => {
    const raw = {
      app: 'web',
      'annotation.hash': 'abc',
      'splitlet.node': 'n1',
      'io.kubernetes.docker.type': 'container',
      'io.kubernetes.sandbox.id': 'sb',
      'io.kubernetes.container.name': 'nginx',
      'io.kubernetes.pod.uid': 'u',
    };
    expect(extractLabels(raw)).toEqual({
      labels: { app: 'web', 'io.kubernetes.container.name': 'nginx', 'io.kubernetes.pod.uid': 'u' },
      annotations: { hash: 'abc' },
    });
  });

  it('extractLabels - hides the sandbox\'s POD container name, as dockershim', () => {
    expect(extractLabels({ 'io.kubernetes.docker.type': 'podsandbox', 'io.kubernetes.container.name': 'POD' })).toEqual({ labels: {}, annotations: {} });
  });

  it('nodeListFilter - always scopes Docker\'s list to the node and the kind', () => {
    expect(nodeListFilter('n1', 'container', { 'io.kubernetes.sandbox.id': 'abc' })).toEqual({
      label: ['splitlet.node=n1', 'io.kubernetes.docker.type=container', 'io.kubernetes.sandbox.id=abc'],
    });
  });
});

describe('docker-mapping state', () => {
  const created = dockerTimeToNanos('2026-11-28T08:00:00.123456789Z');

  it('dockerTimeToNanos - keeps Docker\'s nanoseconds; Docker\'s zero time is 0', () => {
    expect(created).toBe(1_795_852_800_123_456_789n);
    expect(dockerTimeToNanos('2026-11-28T08:00:00Z')).toBe(1_795_852_800_000_000_000n);
    expect(dockerTimeToNanos('2026-11-28T09:00:00.5+01:00')).toBe(1_795_852_800_500_000_000n);
    expect(dockerTimeToNanos('0001-01-01T00:00:00Z')).toBe(0n);
    expect(dockerTimeToNanos('')).toBe(0n);
  });

  it('mapContainerState - running, with no reason', () => {
    const s = mapContainerState({ Status: 'running', Running: true, StartedAt: '2026-11-28T08:00:01Z', FinishedAt: '0001-01-01T00:00:00Z' }, created);
    expect(s).toMatchObject({ state: ContainerState.RUNNING, reason: '', finishedAt: 0n, startedAt: 1_795_852_801_000_000_000n });
  });

  it('mapContainerState - exited: OOMKilled, else Completed for 0, else Error', () => {
    const exited = { Status: 'exited', Running: false, StartedAt: '2026-11-28T08:00:01Z', FinishedAt: '2026-11-28T08:00:02Z' };
    expect(mapContainerState({ ...exited, ExitCode: 0 }, created)).toMatchObject({ state: ContainerState.EXITED, reason: 'Completed', exitCode: 0 });
    expect(mapContainerState({ ...exited, ExitCode: 137 }, created)).toMatchObject({ state: ContainerState.EXITED, reason: 'Error', exitCode: 137 });
    expect(mapContainerState({ ...exited, ExitCode: 137, OOMKilled: true }, created)).toMatchObject({ reason: 'OOMKilled' });
    expect(mapContainerState({ ...exited, ExitCode: 0, OOMKilled: true }, created)).toMatchObject({ reason: 'OOMKilled' });
  });

  it('mapContainerState - a start that failed is exited, StartError, with Docker\'s error and the creation time', () => {
    const error = 'OCI runtime create failed: exec: "nope": executable file not found in $PATH: unknown';
    const s = mapContainerState({ Status: 'created', ExitCode: 127, Error: error, StartedAt: '0001-01-01T00:00:00Z', FinishedAt: '0001-01-01T00:00:00Z' }, created);
    expect(s).toEqual({ state: ContainerState.EXITED, reason: 'StartError', message: error, exitCode: 127, startedAt: created, finishedAt: created });
  });

  it('mapContainerState - a finished container that is dead or being removed is still exited, with its reason', () => {
    for (const Status of ['dead', 'removing']) {
      const s = mapContainerState({ Status, ExitCode: 1, StartedAt: '2026-11-28T08:00:01Z', FinishedAt: '2026-11-28T08:00:02Z' }, created);
      expect(s).toMatchObject({ state: ContainerState.EXITED, reason: 'Error', exitCode: 1 });
    }
  });

  it('mapContainerState - created and never started; paused, restarting or dead are unknown', () => {
    expect(mapContainerState({ Status: 'created', ExitCode: 0 }, created)).toMatchObject({ state: ContainerState.CREATED, reason: '' });
    for (const Status of ['paused', 'restarting', 'dead', 'removing']) {
      expect(mapContainerState({ Status, ExitCode: 0 }, created).state).toBe(ContainerState.UNKNOWN_UNSPECIFIED);
    }
  });

  it('imageRef - docker-pullable://<repo>@sha256 with a repo digest, else docker://<id>', () => {
    expect(imageRef('sha256:abc', ['registry.k8s.io/pause@sha256:def'])).toBe('docker-pullable://registry.k8s.io/pause@sha256:def');
    expect(imageRef('sha256:abc', [])).toBe('docker://sha256:abc');
    expect(imageRef('sha256:abc', undefined)).toBe('docker://sha256:abc');
    expect(imageRef('sha256:abc', ['<none>@<none>'])).toBe('docker://sha256:abc');
  });
});

describe('docker-mapping users', () => {
  it('imageUserIsRoot - empty, root, 0 and 0:<gid> run as root; other users do not', () => {
    for (const u of ['', undefined, null, 'root', 'root:root', '0', '0:0', '0:1000']) expect(imageUserIsRoot(u), String(u)).toBe(true);
    for (const u of ['1000', '65535:65535', 'nobody', '1000:0']) expect(imageUserIsRoot(u), u).toBe(false);
  });

  it('nonRootViolation - the kubelet\'s refusals for runAsNonRoot', () => {
    const who = 'pod: "web_team-a(u)", container: c';
    expect(nonRootViolation({ runAsNonRoot: true }, '', who)).toBe(`container has runAsNonRoot and image will run as root (${who})`);
    expect(nonRootViolation({ runAsNonRoot: true }, '0:0', who)).toMatch(/^container has runAsNonRoot and image will run as root/);
    expect(nonRootViolation({ runAsNonRoot: true }, 'nobody', who)).toMatch(/^container has runAsNonRoot and image has non-numeric user \(nobody\), cannot verify user is non-root/);
    expect(nonRootViolation({ runAsNonRoot: true, runAsUser: 0n }, '1000', who)).toMatch(/^container's runAsUser breaks non-root policy/);
    expect(nonRootViolation({ runAsNonRoot: true }, '1000', who)).toBeUndefined();
    expect(nonRootViolation({ runAsNonRoot: true, runAsUser: 1000n }, '', who)).toBeUndefined();
    expect(nonRootViolation({ runAsNonRoot: false }, '', who)).toBeUndefined();
  });

  it('dockerUser - uid or uid:gid; a group without a user is refused', () => {
    expect(dockerUser(1000n, undefined)).toBe('1000');
    expect(dockerUser(1000n, 2000n)).toBe('1000:2000');
    expect(dockerUser(undefined, undefined)).toBeUndefined();
    expect(() => dockerUser(undefined, 5n)).toThrow('runAsGroup is specified without a runAsUser');
  });
});

describe('docker-mapping host config', () => {
  it('mountBinds - ro and propagation as bind options; private is Docker\'s default', () => {
    const m = (propagation: MountPropagation, readonly = false) => create(MountSchema, { hostPath: '/h', containerPath: '/c', readonly, propagation });
    expect(mountBinds([m(MountPropagation.PRIVATE_UNSPECIFIED), m(MountPropagation.PRIVATE_UNSPECIFIED, true), m(MountPropagation.HOST_TO_CONTAINER), m(MountPropagation.BIDIRECTIONAL, true)])).toEqual([
      '/h:/c',
      '/h:/c:ro',
      '/h:/c:rslave',
      '/h:/c:ro,rshared',
    ]);
  });

  it('portBindings - publishes host ports on their host IP; no host port publishes nothing', () => {
    const pm = (containerPort: number, hostPort: number, protocol = Protocol.TCP_UNSPECIFIED, hostIp = '') => create(PortMappingSchema, { containerPort, hostPort, protocol, hostIp });
    expect(portBindings([pm(80, 8080), pm(53, 5353, Protocol.UDP, '127.0.0.1'), pm(9000, 0)])).toEqual({
      exposed: { '80/tcp': {}, '53/udp': {} },
      bindings: { '80/tcp': [{ HostIp: '', HostPort: '8080' }], '53/udp': [{ HostIp: '127.0.0.1', HostPort: '5353' }] },
    });
  });

  it('extraHosts - one name:ip per host name of each alias', () => {
    expect(extraHosts([create(HostAliasSchema, { ip: '10.0.0.1', hostnames: ['a', 'b'] })])).toEqual(['a:10.0.0.1', 'b:10.0.0.1']);
  });
});

describe('docker-mapping filters', () => {
  const item = { id: 'abcdef', state: ContainerState.RUNNING, labels: { app: 'web', tier: 'front' }, podSandboxId: 'sb123' };

  it('matchesFilter - no filter, or an empty one, matches everything', () => {
    expect(matchesFilter(item, undefined)).toBe(true);
    expect(matchesFilter(item, {})).toBe(true);
  });

  it('matchesFilter - ID by prefix, state, sandbox by prefix', () => {
    expect(matchesFilter(item, { id: 'abc' })).toBe(true);
    expect(matchesFilter(item, { id: 'abd' })).toBe(false);
    expect(matchesFilter(item, { state: ContainerState.RUNNING })).toBe(true);
    expect(matchesFilter(item, { state: ContainerState.EXITED })).toBe(false);
    expect(matchesFilter(item, { podSandboxId: 'sb1' })).toBe(true);
    expect(matchesFilter(item, { podSandboxId: 'other' })).toBe(false);
  });

  it('matchesFilter - every label of the selector must match', () => {
    expect(matchesFilter(item, { labelSelector: { app: 'web', tier: 'front' } })).toBe(true);
    expect(matchesFilter(item, { labelSelector: { app: 'web', tier: 'back' } })).toBe(false);
    expect(matchesFilter(item, { labelSelector: { missing: '' } })).toBe(false);
  });

  it('matchesFilter - sandbox states filter the same way', () => {
    const sb = { id: 'x', state: PodSandboxState.READY, labels: {} };
    expect(matchesFilter(sb, { state: PodSandboxState.NOTREADY_UNSPECIFIED })).toBe(false);
    expect(matchesFilter(sb, { state: PodSandboxState.READY })).toBe(true);
  });
});

describe('docker-mapping pull errors and exec output', () => {
  it('pullErrorIsNotFound - not found or denied is NotFound; an unreachable registry is not', () => {
    expect(pullErrorIsNotFound(404, 'pull access denied for nope, repository does not exist or may require \'docker login\'')).toBe(true);
    expect(pullErrorIsNotFound(undefined, 'manifest for busybox:nope not found: manifest unknown: manifest unknown')).toBe(true);
    expect(pullErrorIsNotFound(500, 'Get "https://127.0.0.1:1/v2/": dial tcp 127.0.0.1:1: connect: connection refused')).toBe(false);
  });

  it('Demuxer - splits Docker\'s multiplexed stream across chunk boundaries', () => {
    const frame = (type: number, text: string) => {
      const payload = Buffer.from(text);
      const header = Buffer.alloc(8);
      header[0] = type;
      header.writeUInt32BE(payload.length, 4);
      return Buffer.concat([header, payload]);
    };
    const all = Buffer.concat([frame(1, 'hello '), frame(2, 'oops'), frame(1, 'world')]);
    const d = new Demuxer(1024);
    for (let i = 0; i < all.length; i += 3) d.push(all.subarray(i, i + 3));
    expect(d.stdout.toString()).toBe('hello world');
    expect(d.stderr.toString()).toBe('oops');
  });

  it('Demuxer - keeps at most the limit of each stream', () => {
    const payload = Buffer.from('x'.repeat(100));
    const header = Buffer.alloc(8);
    header[0] = 1;
    header.writeUInt32BE(100, 4);
    const d = new Demuxer(10);
    d.push(Buffer.concat([header, payload, header, payload]));
    expect(d.stdout.length).toBe(10);
  });
});

describe('dockerMessage', () => {
  it("dockerMessage - the daemon's words: from the JSON body, or from dockerode's message of a streamed call with its \"(HTTP code …)\" wrapping cut off", () => {
    expect(dockerMessage(Object.assign(new Error('(HTTP code 404) no such container - No such container: x '), { statusCode: 404, json: { message: 'No such container: x' } }))).toBe('No such container: x');
    // A failed pull (dockerode reads no JSON from a stream): as this machine's Docker 20.10 daemon answers.
    const pull = Object.assign(new Error('(HTTP code 500) server error - Get "https://registry-1.docker.io/v2/": dial tcp: lookup registry-1.docker.io: no such host '), { statusCode: 500, json: null });
    expect(dockerMessage(pull)).toBe('Get "https://registry-1.docker.io/v2/": dial tcp: lookup registry-1.docker.io: no such host');
    expect(dockerMessage(new Error('connect ENOENT /var/run/docker.sock'))).toBe('connect ENOENT /var/run/docker.sock');
  });
});
