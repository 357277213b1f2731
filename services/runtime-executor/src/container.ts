import type { DependencyContainer } from 'tsyringe';
import { runAll, type Runnable } from '@splitlet/service';
import type { Config } from './config';
import { ContainerEventPublisher } from './container-events';
import { connectDocker } from './docker';
import { ImageServer, nodeStatFs } from './image-server';
import { ExecStreamServer } from './exec/exec-server';
import { ContainerLogServer } from './logs/log-server';
import { OomKills } from './oom-kills';
import { PulledImages } from './pulled-images';
import { RuntimeServer } from './runtime-server';
import { RT } from './tokens';

/** The service's wiring: everything it needs beside the common TOKENS. */
export function wire(container: DependencyContainer, config: Config): Runnable {
  container.registerInstance(RT.Docker, connectDocker(config.DOCKER_HOST, { requestTimeoutMs: config.SPLITLET_DOCKER_REQUEST_TIMEOUT_MS }));
  container.registerInstance(RT.StatFs, nodeStatFs);
  container.registerInstance(RT.PauseImage, config.SPLITLET_PAUSE_IMAGE);
  container.registerSingleton(OomKills);
  container.registerSingleton(PulledImages);
  return runAll(
    container.resolve(PulledImages),
    container.resolve(RuntimeServer),
    container.resolve(ImageServer),
    container.resolve(ContainerEventPublisher),
    container.resolve(ContainerLogServer),
    container.resolve(ExecStreamServer),
  );
}
