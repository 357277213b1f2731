import { describe, expect, it } from 'vitest';
import type Docker from 'dockerode';
import { create } from '@bufbuild/protobuf';
import { PodSandboxConfigSchema } from '@splitlet/contracts';
import type { DockerApi } from './docker';
import { Images } from './images';
import { Owned } from './owned';
import { Sandboxes } from './sandboxes';

/** A Docker that holds the pause image and records each container it is asked to create. */
function recordingDocker(): { docker: DockerApi; created: Docker.ContainerCreateOptions[] } {
  const created: Docker.ContainerCreateOptions[] = [];
  const docker = {
    getImage: () => ({ inspect: async () => ({ Id: 'sha256:aaa' }) }),
    createContainer: async (opts: Docker.ContainerCreateOptions) => {
      created.push(opts);
      return { id: 'a'.repeat(64) };
    },
    getContainer: () => ({ start: async () => undefined }),
  } as unknown as DockerApi;
  return { docker, created };
}

const sandboxes = (docker: DockerApi) => new Sandboxes(docker, 'splitlet-lab/pause:1', new Owned(docker, 'node-a'), new Images(docker));
const config = (init: { sysctls?: Record<string, string>; hostname?: string; hostNetwork?: boolean }) =>
  create(PodSandboxConfigSchema, { metadata: { name: 'web', namespace: 'ns', uid: '0b5e1f3c-7a39-4d6b-9a55-1d1f6f9c2e11', attempt: 0 }, ...init });

describe('runtime-executor Sandboxes', () => {
  it('Sandboxes - the pod\'s sysctls are the pause container\'s HostConfig.Sysctls, as dockershim set them', async () => {
    const { docker, created } = recordingDocker();
    await sandboxes(docker).run(config({ sysctls: { 'kernel.shm_rmid_forced': '1', 'net.ipv4.ip_local_port_range': '1024 65535' } }));
    expect(created[0]?.HostConfig?.Sysctls).toEqual({ 'kernel.shm_rmid_forced': '1', 'net.ipv4.ip_local_port_range': '1024 65535' });
  });

  it('Sandboxes - no sysctls: none given to Docker', async () => {
    const { docker, created } = recordingDocker();
    await sandboxes(docker).run(config({}));
    expect(created[0]?.HostConfig).not.toHaveProperty('Sysctls');
  });

  it('Sandboxes - the host name is the config\'s; a host-network sandbox has the node\'s', async () => {
    const { docker, created } = recordingDocker();
    await sandboxes(docker).run(config({ hostname: 'my-host.example' }));
    await sandboxes(docker).run(config({ hostname: 'ignored', hostNetwork: true }));
    expect(created.map((c) => c.Hostname)).toEqual(['my-host.example', undefined]);
  });
});
