import { ErrorCode, HandlerError } from '@splitlet/bus';
import Docker from 'dockerode';

/** The part of the Docker API the executor uses; dockerode provides it, tests fake it. */
export type DockerApi = Pick<Docker, 'version' | 'info' | 'listImages'>;

export function connectDocker(dockerHost: string): Docker {
  if (dockerHost.startsWith('unix://')) return new Docker({ socketPath: dockerHost.slice('unix://'.length) });
  const url = new URL(dockerHost.replace(/^tcp:/, 'http:'));
  return new Docker({ host: url.hostname, port: Number(url.port || 2375) });
}

/** Runs a Docker call; a failure answers the caller with code 14 (unavailable) and Docker's message. */
export async function unavailableOnError<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    throw new HandlerError(ErrorCode.Unavailable, `docker: ${(err as Error).message}`, { cause: err });
  }
}
