import type { DependencyContainer } from 'tsyringe';
import type { Runnable } from '@splitlet/service';
import type { Config } from './config';
import { connectDocker } from './docker';
import { RuntimeServer } from './runtime-server';
import { RT } from './tokens';

/** The service's wiring: everything it needs beside the common TOKENS. */
export function wire(container: DependencyContainer, config: Config): Runnable {
  container.registerInstance(RT.Docker, connectDocker(config.DOCKER_HOST));
  return container.resolve(RuntimeServer);
}
