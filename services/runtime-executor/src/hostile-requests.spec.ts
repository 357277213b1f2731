import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRpcClient, ErrorCode, HandlerError, isRemoteError } from '@splitlet/bus';
import { ImageService, RuntimeService } from '@splitlet/contracts';
import { type ServiceHarness } from '@splitlet/testing';
import { startFakeDockerApi, type FakeDockerApi } from './__fixtures__/docker-api';
import { useExecutorOnFakeDocker } from './__fixtures__/executor';
import { connectDocker, dockerCall } from './docker';

// Ids and image references as an attacker sends them: each once made Docker answer a
// 301 that docker-modem followed into a crash, or names another Docker endpoint.
const HOSTILE = ['', '/', '..', '../../info', '%2F', 'A'.repeat(4096)];
const SANDBOX_ID = 'a'.repeat(64);

/** What the call rejected with: the remote code, or the error itself when it was not a RemoteError. */
async function codeOf(p: Promise<unknown>): Promise<number | unknown> {
  const err = await p.then(
    () => 'answered without an error',
    (e: unknown) => e,
  );
  return isRemoteError(err) ? err.code : err;
}

describe('runtime-executor - hostile requests', () => {
  let h: ServiceHarness;
  const executor = useExecutorOnFakeDocker();
  beforeAll(() => {
    h = executor.harness();
  });

  const rt = () => createRpcClient(h.peer, h.nodeName, RuntimeService, { timeoutMs: 5000 });
  const images = () => createRpcClient(h.peer, h.nodeName, ImageService, { timeoutMs: 5000 });

  /** Every RPC that takes an id or an image reference, called with `bad` in it. */
  const calls: Record<string, (bad: string) => Promise<unknown>> = {
    StopPodSandbox: (bad) => rt().stopPodSandbox({ podSandboxId: bad }),
    RemovePodSandbox: (bad) => rt().removePodSandbox({ podSandboxId: bad }),
    PodSandboxStatus: (bad) => rt().podSandboxStatus({ podSandboxId: bad }),
    'RunPodSandbox (sandbox image)': (bad) => rt().runPodSandbox({ config: { metadata: { name: 'p', namespace: 'ns', uid: 'u', attempt: 0 }, sandboxImage: bad || '/' } }),
    'RunPodSandbox (pod name)': (bad) => rt().runPodSandbox({ config: { metadata: { name: bad || '/', namespace: 'ns', uid: 'u', attempt: 0 } } }),
    'CreateContainer (sandbox id)': (bad) => rt().createContainer({ podSandboxId: bad, config: { metadata: { name: 'c', attempt: 0 }, image: 'busybox' } }),
    'CreateContainer (image)': (bad) => rt().createContainer({ podSandboxId: SANDBOX_ID, config: { metadata: { name: 'c', attempt: 0 }, image: bad || '/' } }),
    StartContainer: (bad) => rt().startContainer({ containerId: bad }),
    StopContainer: (bad) => rt().stopContainer({ containerId: bad, timeout: 1n }),
    RemoveContainer: (bad) => rt().removeContainer({ containerId: bad }),
    ContainerStatus: (bad) => rt().containerStatus({ containerId: bad }),
    ExecSync: (bad) => rt().execSync({ containerId: bad, cmd: ['true'] }),
    ContainerLogTail: (bad) => rt().containerLogTail({ containerId: bad, lines: 10, maxBytes: 1024 }),
    PullImage: (bad) => images().pullImage({ image: { image: bad } }),
    ImageStatus: (bad) => images().imageStatus({ image: { image: bad } }),
    RemoveImage: (bad) => images().removeImage({ image: { image: bad } }),
  };

  for (const [rpc, call] of Object.entries(calls)) {
    it(`${rpc} - answers 3 (invalid argument) to "", "/", "..", "../../info", "%2F" and 4 KiB of "A", and keeps serving`, async () => {
      const codes = [];
      for (const bad of HOSTILE) codes.push(await codeOf(call(bad)));
      expect(codes).toEqual(HOSTILE.map(() => ErrorCode.InvalidArgument));
      expect((await rt().version({})).runtimeVersion).toBe('20.10.24');
    });
  }

  it('StopContainer and ExecSync - a negative timeout answers 3', async () => {
    const id = 'b'.repeat(64);
    expect(await codeOf(rt().stopContainer({ containerId: id, timeout: -1n }))).toBe(ErrorCode.InvalidArgument);
    expect(await codeOf(rt().execSync({ containerId: id, cmd: ['true'], timeout: -5n }))).toBe(ErrorCode.InvalidArgument);
  });

  it('CreateContainer - a mount path Docker\'s bind syntax cannot carry (":", "..", relative, NUL) answers 3 before any sandbox is looked up', async () => {
    const create = (hostPath: string, containerPath = '/data') =>
      rt().createContainer({ podSandboxId: 'b'.repeat(64), config: { metadata: { name: 'app' }, image: 'busybox:1', mounts: [{ hostPath, containerPath }] } });
    for (const bad of ['/tmp/x:/etc', 'relative/dir', '/var/lib/../../etc', '/a\0b']) expect(await codeOf(create(bad))).toBe(ErrorCode.InvalidArgument);
    expect(await codeOf(create('/tmp/x', '/data:ro'))).toBe(ErrorCode.InvalidArgument);
    // A good one goes on to the sandbox, which this Docker does not have.
    expect(await codeOf(create('/tmp/x'))).toBe(ErrorCode.NotFound);
  });

  it('ContainerStatus - a well-formed id of no container answers 5 (not found)', async () => {
    expect(await codeOf(rt().containerStatus({ containerId: 'c'.repeat(64) }))).toBe(ErrorCode.NotFound);
  });

  it('an invalid argument is answered without echoing a 4 KiB id back', async () => {
    const err = await rt().containerStatus({ containerId: 'A'.repeat(4096) }).catch((e: unknown) => e);
    expect(isRemoteError(err) && err.description.length).toBeLessThan(200);
  });
});

describe('connectDocker - Docker redirects', () => {
  let docker: FakeDockerApi;
  beforeAll(async () => {
    docker = await startFakeDockerApi();
  });
  afterAll(async () => {
    await docker.close();
  });

  // Without the guard, docker-modem requests http://containers/info/json and its
  // unhandled 'error' event ends the process (vitest reports the unhandled error).
  type Docker = ReturnType<typeof connectDocker>;
  const calls: [string, (d: Docker) => Promise<unknown>][] = [
    ['a container', (d) => d.getContainer('../../info').inspect()],
    ['an image', (d) => d.getImage('').inspect()],
    ['an exec', (d) => d.getContainer('..').exec({ Cmd: ['true'] })],
  ];
  for (const [what, call] of calls) {
    it(`a 301 for ${what} is not followed: the call fails with 3`, async () => {
      const d = connectDocker(docker.host);
      const err = await dockerCall(() => call(d)).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(HandlerError);
      expect((err as HandlerError).code).toBe(ErrorCode.InvalidArgument);
      expect((await d.version()).Version).toBe('20.10.24');
    });
  }
});
