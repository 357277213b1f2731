import { afterAll, beforeAll } from 'vitest';
import { runAll } from '@splitlet/service';
import { startServiceHarness, type ServiceHarness } from '@splitlet/testing';
import { connectDocker } from '../docker';
import { ExecStreamServer } from '../exec/exec-server';
import { ImageServer } from '../image-server';
import { ContainerLogServer } from '../logs/log-server';
import { RuntimeServer } from '../runtime-server';
import { RT } from '../tokens';
import { startFakeDockerApi, type FakeDockerApi } from './docker-api';

/**
 * runtime-executor's RuntimeService, ImageService, ContainerLogService and
 * ExecStreamService on a real nats-server (the service harness), with the real
 * dockerode talking to a Docker that holds nothing, for the life of the calling
 * describe block. The harness is there from its beforeAll on.
 */
export function useExecutorOnFakeDocker(): { harness(): ServiceHarness } {
  let h: ServiceHarness | undefined;
  let docker: FakeDockerApi | undefined;
  const abort = new AbortController();
  let running: Promise<void> | undefined;
  beforeAll(async () => {
    docker = await startFakeDockerApi();
    h = await startServiceHarness('runtime-executor');
    h.container.registerInstance(RT.Docker, connectDocker(docker.host));
    h.container.registerInstance(RT.StatFs, async () => ({ bsize: 4096, blocks: 1, bfree: 1, bavail: 1, files: 1, ffree: 1 }));
    h.container.registerInstance(RT.PauseImage, 'splitlet-lab/pause:1');
    running = runAll(h.container.resolve(RuntimeServer), h.container.resolve(ImageServer), h.container.resolve(ContainerLogServer), h.container.resolve(ExecStreamServer)).run(abort.signal);
    await h.nc.flush();
  });
  afterAll(async () => {
    abort.abort();
    await running;
    await h?.close();
    await docker?.close();
  });
  return {
    harness: () => {
      if (!h) throw new Error('the executor harness starts in beforeAll');
      return h;
    },
  };
}
