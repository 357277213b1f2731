import { inject, injectable } from 'tsyringe';
import type Docker from 'dockerode';
import { ErrorCode, HandlerError } from '@splitlet/bus';
import type { AuthConfig } from '@splitlet/contracts';
import { dockerCall, dockerMessage, dockerStatus, isNotFound, type DockerApi } from './docker';
import { pullErrorIsNotFound } from './docker-mapping';
import { RT } from './tokens';

/** Images in Docker: inspect, pull (with registry credentials), and their CRI shape. */
@injectable()
export class Images {
  constructor(@inject(RT.Docker) private readonly docker: DockerApi) {}

  /** The image, or undefined when Docker does not hold it. */
  async inspect(ref: string): Promise<Docker.ImageInspectInfo | undefined> {
    try {
      return await dockerCall(() => this.docker.getImage(ref).inspect());
    } catch (err) {
      if (isNotFound(err) || (err instanceof HandlerError && err.code === ErrorCode.NotFound)) return undefined;
      throw err;
    }
  }

  async status(ref: string): Promise<ImageInfo | undefined> {
    const img = await this.inspect(ref);
    return img && toImage(img);
  }

  /**
   * Pulls the image, reading Docker's progress stream to its end: Docker reports a
   * failure that happens mid-pull only inside that stream. Answers the image ID.
   */
  async pull(ref: string, auth: AuthConfig | undefined): Promise<string> {
    if (!ref) throw new HandlerError(ErrorCode.InvalidArgument, 'image is required');
    try {
      const stream = await this.docker.pull(ref, auth ? { authconfig: toAuthConfig(auth) } : {});
      await followPull(stream);
    } catch (err) {
      if (err instanceof HandlerError) throw err;
      const status = dockerStatus(err);
      const message = dockerMessage(err);
      if (status === undefined && !(err instanceof PullError)) throw new HandlerError(ErrorCode.Unavailable, `docker: ${message}`, { cause: err });
      throw new HandlerError(pullErrorIsNotFound(status, message) ? ErrorCode.NotFound : ErrorCode.Unavailable, message, { cause: err });
    }
    const img = await this.inspect(ref);
    if (!img) throw new HandlerError(ErrorCode.Internal, `pulled ${ref} but Docker does not hold it`);
    return img.Id;
  }
}

/** The contract's Image, as a plain object the reply is built from. */
export interface ImageInfo {
  id: string;
  repoTags: string[];
  repoDigests: string[];
  size: bigint;
}

export function toImage(img: Docker.ImageInspectInfo): ImageInfo {
  return {
    id: img.Id,
    repoTags: (img.RepoTags ?? []).filter((t) => t !== '<none>:<none>'),
    repoDigests: (img.RepoDigests ?? []).filter((d) => !d.startsWith('<none>@')),
    size: BigInt(Math.max(0, img.Size ?? 0)),
  };
}

/** The contract's credentials as Docker's X-Registry-Auth fields; empty ones left out. */
function toAuthConfig(a: AuthConfig): Docker.AuthConfig {
  const out: Record<string, string> = {};
  const set = (k: string, v: string) => v && (out[k] = v);
  set('username', a.username);
  set('password', a.password);
  set('auth', a.auth);
  set('serveraddress', a.serverAddress);
  set('identitytoken', a.identityToken);
  set('registrytoken', a.registryToken);
  return out as Docker.AuthConfig;
}

/** An error Docker reported inside the pull's progress stream. */
class PullError extends Error {}

/** Reads Docker's newline-delimited JSON progress to the end; rejects with the first error it reports. */
function followPull(stream: NodeJS.ReadableStream): Promise<void> {
  return new Promise((resolve, reject) => {
    let partial = '';
    let failed: string | undefined;
    const onLine = (line: string) => {
      if (!line.trim() || failed) return;
      try {
        const ev = JSON.parse(line) as { error?: string; errorDetail?: { message?: string } };
        if (ev.error) failed = ev.errorDetail?.message ?? ev.error;
      } catch {
        // Progress lines are informative only; one that does not parse changes nothing.
      }
    };
    stream.on('data', (d: Buffer | string) => {
      const lines = (partial + d.toString()).split('\n');
      partial = lines.pop() ?? '';
      lines.forEach(onLine);
    });
    stream.on('end', () => {
      onLine(partial);
      if (failed) reject(new PullError(failed));
      else resolve();
    });
    stream.on('error', reject);
  });
}
