import Docker from 'dockerode';

/** The part of the Docker API the executor uses; dockerode provides it, tests fake it. */
export type DockerApi = Pick<Docker, 'version' | 'info'>;

export function connectDocker(dockerHost: string): Docker {
  if (dockerHost.startsWith('unix://')) return new Docker({ socketPath: dockerHost.slice('unix://'.length) });
  const url = new URL(dockerHost.replace(/^tcp:/, 'http:'));
  return new Docker({ host: url.hostname, port: Number(url.port || 2375) });
}
