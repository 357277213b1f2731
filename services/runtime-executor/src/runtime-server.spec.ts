import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createRpcClient, isRemoteError, methodSubject, type RemoteError } from '@splitlet/bus';
import { RuntimeService } from '@splitlet/contracts';
import { startServiceHarness, type ServiceHarness } from '@splitlet/testing';
import type { DockerApi } from './docker';
import { RuntimeServer } from './runtime-server';
import { RT } from './tokens';

/** A Docker that answers like Docker 20.10, or fails like a stopped one. */
class FakeDocker implements DockerApi {
  down = false;
  version = (async () => {
    if (this.down) throw new Error('connect ENOENT /var/run/docker.sock');
    return { Version: '20.10.24', ApiVersion: '1.41' };
  }) as unknown as DockerApi['version'];
  info = (async () => {
    if (this.down) throw new Error('connect ENOENT /var/run/docker.sock');
    return { DockerRootDir: '/var/lib/docker', ServerVersion: '20.10.24' };
  }) as unknown as DockerApi['info'];
}

describe('runtime-executor RuntimeServer', () => {
  let h: ServiceHarness;
  let docker: FakeDocker;
  let abort: AbortController;
  let running: Promise<void>;

  beforeEach(async () => {
    h = await startServiceHarness('runtime-executor');
    docker = new FakeDocker();
    h.container.registerInstance(RT.Docker, docker);
    abort = new AbortController();
    running = h.container.resolve(RuntimeServer).run(abort.signal);
    await h.nc.flush();
  });

  afterEach(async () => {
    abort.abort();
    await running;
    await h.close();
  });

  const client = () => createRpcClient(h.peer, h.nodeName, RuntimeService, { timeoutMs: 2000 });

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
