import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createRpcClient, isRemoteError, methodSubject, type RemoteError } from '@splitlet/bus';
import { ImageService, RuntimeService } from '@splitlet/contracts';
import { runAll } from '@splitlet/service';
import { startServiceHarness, type ServiceHarness } from '@splitlet/testing';
import type { DockerApi } from './docker';
import { ImageServer, type StatFs } from './image-server';
import { RuntimeServer } from './runtime-server';
import { RT } from './tokens';

/** A Docker that answers like Docker 20.10, or fails like a stopped one. */
class FakeDocker implements DockerApi {
  getEvents = (async () => {
    throw new Error('no events in this test');
  }) as unknown as DockerApi['getEvents'];
  down = false;
  version = (async () => {
    if (this.down) throw new Error('connect ENOENT /var/run/docker.sock');
    return { Version: '20.10.24', ApiVersion: '1.41' };
  }) as unknown as DockerApi['version'];
  listImages = (async () => {
    if (this.down) throw new Error('connect ENOENT /var/run/docker.sock');
    return [
      { Id: 'sha256:aaa', RepoTags: ['splitlet-lab/pause:1'], RepoDigests: null, Size: 687_000 },
      { Id: 'sha256:bbb', RepoTags: ['<none>:<none>'], RepoDigests: ['<none>@<none>'], Size: 5 },
    ];
  }) as unknown as DockerApi['listImages'];
  info = (async () => {
    if (this.down) throw new Error('connect ENOENT /var/run/docker.sock');
    return { DockerRootDir: '/var/lib/docker', ServerVersion: '20.10.24' };
  }) as unknown as DockerApi['info'];
  // The container and image calls are exercised against real Docker (test/e2e/runtime-executor.e2e.ts).
  // Containers of anyone on the engine: none but this node's own here (no image is pinned for another's use).
  listContainers = (async () => {
    if (this.down) throw new Error('connect ENOENT /var/run/docker.sock');
    return [];
  }) as unknown as DockerApi['listContainers'];
  createContainer = notFaked as unknown as DockerApi['createContainer'];
  getContainer = notFaked as unknown as DockerApi['getContainer'];
  getImage = notFaked as unknown as DockerApi['getImage'];
  pull = notFaked as unknown as DockerApi['pull'];
}

function notFaked(): never {
  throw new Error('not faked');
}

const fakeStatFs: StatFs = async (path) => {
  if (path !== '/var/lib/docker') throw new Error(`ENOENT: ${path}`);
  return { bsize: 4096, blocks: 1000, bfree: 400, bavail: 300, files: 50, ffree: 20 };
};

describe('runtime-executor RuntimeServer and ImageServer', () => {
  let h: ServiceHarness;
  let docker: FakeDocker;
  let abort: AbortController;
  let running: Promise<void>;

  beforeEach(async () => {
    h = await startServiceHarness('runtime-executor');
    docker = new FakeDocker();
    h.container.registerInstance(RT.Docker, docker);
    h.container.registerInstance(RT.StatFs, fakeStatFs);
    h.container.registerInstance(RT.PauseImage, 'splitlet-lab/pause:1');
    abort = new AbortController();
    running = runAll(h.container.resolve(RuntimeServer), h.container.resolve(ImageServer)).run(abort.signal);
    await h.nc.flush();
  });

  afterEach(async () => {
    abort.abort();
    await running;
    await h.close();
  });

  const client = () => createRpcClient(h.peer, h.nodeName, RuntimeService, { timeoutMs: 2000 });
  const images = () => createRpcClient(h.peer, h.nodeName, ImageService, { timeoutMs: 2000 });

  it('ImageServer - lists images with tags, digests and sizes, without <none> placeholders', async () => {
    const { images: list } = await images().listImages({});
    expect(list.map((i) => [i.id, i.repoTags, i.repoDigests, i.size])).toEqual([
      ['sha256:aaa', ['splitlet-lab/pause:1'], [], 687_000n],
      ['sha256:bbb', [], [], 5n],
    ]);
  });

  it('ImageServer - measures the filesystem under Docker\'s data root', async () => {
    const [fs] = (await images().imageFsInfo({})).imageFilesystems;
    expect(fs).toMatchObject({
      mountpoint: '/var/lib/docker',
      capacityBytes: 4_096_000n,
      availableBytes: 1_228_800n,
      usedBytes: 2_457_600n,
      inodes: 50n,
      inodesFree: 20n,
    });
  });

  it('RuntimeServer - answers Version with the runtime name and versions', async () => {
    const v = await client().version({ version: 'v1' });
    expect(v).toMatchObject({ version: 'v1', runtimeName: 'docker', runtimeVersion: '20.10.24', runtimeApiVersion: '1.41' });
  });

  it('RuntimeServer - serves on the node-scoped, versioned subject', () => {
    expect(methodSubject('node.a', RuntimeService, 'Version')).toBe('splitlet.node_a.runtime.v1.Version');
  });

  it('RuntimeServer - reports Docker down as RuntimeReady=false with the cause', async () => {
    docker.down = true;
    const s = await client().status({ verbose: true });
    expect(s.status?.conditions.map((c) => [c.type, c.status, c.reason])).toEqual([
      ['RuntimeReady', false, 'DockerUnreachable'],
      ['NetworkReady', false, 'DockerUnreachable'],
    ]);
    expect(s.status?.conditions[0]?.message).toContain('ENOENT');
  });

  it('RuntimeServer - answers Version with code 14 (unavailable) while Docker is down', async () => {
    docker.down = true;
    const err = await client().version({}).catch((e: unknown) => e);
    expect(isRemoteError(err)).toBe(true);
    expect((err as RemoteError).code).toBe(14);
    expect((err as RemoteError).description).toContain('docker: connect ENOENT');
  });

  it('RuntimeServer - answers a garbage request with 400 and keeps serving', async () => {
    const subject = methodSubject(h.nodeName, RuntimeService, 'Version');
    // field 1 as a varint where a string is expected, then a truncated length prefix
    const reply = await h.peer.request(subject, new Uint8Array([0x0a, 0xff, 0xff, 0xff]), { timeout: 2000 });
    expect(reply.headers?.get('Nats-Service-Error-Code')).toBe('400');
    expect(reply.headers?.get('Nats-Service-Error')).toMatch(/malformed splitlet.runtime.v1.VersionRequest/);
    expect((await client().version({})).runtimeName).toBe('docker');
  });
});
