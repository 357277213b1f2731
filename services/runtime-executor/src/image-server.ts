import { statfs } from 'node:fs/promises';
import { inject, injectable } from 'tsyringe';
import type { Service } from '@nats-io/services';
import { serveRpc } from '@splitlet/bus';
import { ImageService } from '@splitlet/contracts';
import { TOKENS, untilAborted, type Runnable } from '@splitlet/service';
import type { Logger } from '@splitlet/telemetry';
import { unavailableOnError, type DockerApi } from './docker';
import { Images } from './images';
import { requireImageRef } from './request-validation';
import { RT } from './tokens';

/** Measures a filesystem (statfs); injected so tests need no real disk. */
export type StatFs = (path: string) => Promise<{ bsize: number; blocks: number; bavail: number; bfree: number; files: number; ffree: number }>;

/** Serves the CRI-shaped ImageService for this node from Docker. */
@injectable()
export class ImageServer implements Runnable {
  constructor(
    @inject(TOKENS.MicroService) private readonly micro: Service,
    @inject(TOKENS.NodeName) private readonly nodeName: string,
    @inject(RT.Docker) private readonly docker: DockerApi,
    @inject(RT.StatFs) private readonly statFs: StatFs,
    @inject(TOKENS.Logger) private readonly logger: Logger,
    @inject(Images) private readonly images: Images,
  ) {}

  async run(signal: AbortSignal): Promise<void> {
    serveRpc(
      this.micro,
      this.nodeName,
      ImageService,
      {
        listImages: async () => {
          const images = await unavailableOnError(() => this.docker.listImages());
          return {
            images: images.map((i) => ({
              id: i.Id,
              repoTags: (i.RepoTags ?? []).filter((t) => t !== '<none>:<none>'),
              repoDigests: (i.RepoDigests ?? []).filter((d) => !d.startsWith('<none>@')),
              size: BigInt(Math.max(0, i.Size)),
            })),
          };
        },
        imageFsInfo: async () => {
          const info = await unavailableOnError(() => this.docker.info());
          const root = String(info.DockerRootDir ?? '/var/lib/docker');
          const fs = await unavailableOnError(() => this.statFs(root));
          const bytes = (blocks: number) => BigInt(blocks) * BigInt(fs.bsize);
          return {
            imageFilesystems: [
              {
                timestamp: BigInt(Date.now()) * 1_000_000n,
                mountpoint: root,
                capacityBytes: bytes(fs.blocks),
                availableBytes: bytes(fs.bavail),
                usedBytes: bytes(fs.blocks - fs.bfree),
                inodes: BigInt(fs.files),
                inodesFree: BigInt(fs.ffree),
              },
            ],
          };
        },
        pullImage: async (req) => ({ imageRef: await this.images.pull(requireImageRef(req.image?.image ?? ''), req.auth) }),
        imageStatus: async (req) => {
          const image = await this.images.status(requireImageRef(req.image?.image ?? ''));
          return image ? { image } : {};
        },
      },
      { logger: this.logger },
    );
    await untilAborted(signal);
  }
}

export const nodeStatFs: StatFs = (path) => statfs(path);
