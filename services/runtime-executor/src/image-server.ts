import { statfs } from 'node:fs/promises';
import { inject, injectable } from 'tsyringe';
import type { Service } from '@nats-io/services';
import { serveRpc } from '@splitlet/bus';
import { ImageService } from '@splitlet/contracts';
import { TOKENS, untilAborted, type Runnable } from '@splitlet/service';
import type { Logger } from '@splitlet/telemetry';
import { ErrorCode, HandlerError } from '@splitlet/bus';
import { dockerCall, isNotFound, unavailableOnError, type DockerApi } from './docker';
import { LABEL } from './docker-mapping';
import { Images, toImage, type ImageInfo } from './images';
import { PulledImages } from './pulled-images';
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
    @inject(PulledImages) private readonly pulled: PulledImages,
  ) {}

  async run(signal: AbortSignal): Promise<void> {
    serveRpc(
      this.micro,
      this.nodeName,
      ImageService,
      {
        listImages: async () => {
          const listedAt = Date.now();
          const listed = await unavailableOnError(() => this.docker.listImages());
          void this.pulled.reconcile(new Set(listed.map((i) => i.Id)), listedAt);
          const images = listed.map((i) =>
            this.withPinned({
              id: i.Id,
              repoTags: (i.RepoTags ?? []).filter((t) => t !== '<none>:<none>'),
              repoDigests: (i.RepoDigests ?? []).filter((d) => !d.startsWith('<none>@')),
              size: BigInt(Math.max(0, i.Size)),
            }),
          );
          // Only an image of the node's can be used by others' containers that matter here:
          // the engine's containers are listed only then (most nodes pulled nothing, and
          // registrar lists the images every status update).
          if (images.every((i) => i.pinned)) return { images };
          const othersUse = await this.usedByOthers();
          return { images: images.map((i) => (othersUse.has(i.id) ? { ...i, pinned: true } : i)) };
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
        pullImage: async (req) => {
          const ref = requireImageRef(req.image?.image ?? '');
          const imageRef = await this.images.pull(ref, req.auth);
          await this.pulled.record(ref, imageRef);
          return { imageRef };
        },
        imageStatus: async (req) => {
          const image = await this.images.status(requireImageRef(req.image?.image ?? ''));
          return image ? { image: this.withPinned(image) } : {};
        },
        removeImage: async (req) => {
          await this.remove(requireImageRef(req.image?.image ?? ''));
          return {};
        },
      },
      { logger: this.logger },
    );
    await untilAborted(signal);
  }

  private withPinned(image: ImageInfo): ImageInfo & { pinned: boolean } {
    return { ...image, pinned: this.pulled.pinned(image) };
  }

  /**
   * The images a container that is not this node's was created from (another node's,
   * or anyone else's on a shared engine): pinned too, as this node can neither remove
   * them nor tell whether they are in use.
   */
  private async usedByOthers(): Promise<Set<string>> {
    const all = await unavailableOnError(() => this.docker.listContainers({ all: true }));
    return new Set(all.filter((c) => c.Labels?.[LABEL.node] !== this.nodeName).map((c) => c.ImageID));
  }

  /**
   * RemoveImage: an image that is not present is removed already; a pinned one is
   * refused, and so is one any container on the engine was created from (Docker would
   * only untag it). Each of its tags is removed (the image goes with the last), then,
   * untagged, the image itself — never forced.
   */
  private async remove(ref: string): Promise<void> {
    const found = await this.images.inspect(ref);
    if (!found) return;
    const image = toImage(found);
    if (this.pulled.pinned(image)) throw new HandlerError(ErrorCode.FailedPrecondition, `image ${image.id} is pinned: it is the pause image, or has names this node did not pull`);
    const users = await dockerCall(() => this.docker.listContainers({ all: true, filters: { ancestor: [image.id] } }));
    const user = users.find((c) => c.ImageID === image.id);
    if (user) throw new HandlerError(ErrorCode.FailedPrecondition, `conflict: unable to remove image ${image.id}: it is being used by container ${user.Id.slice(0, 12)}`);
    const gone = async (fn: () => Promise<unknown>) => {
      try {
        await fn();
      } catch (err) {
        if (!isNotFound(err)) throw err;
      }
    };
    // Each tag only while it still names this image: a pull may have moved it onto a new one meanwhile.
    for (const tag of image.repoTags) {
      if ((await this.images.inspect(tag))?.Id !== image.id) continue;
      await dockerCall(() => gone(() => this.docker.getImage(tag).remove()));
    }
    // Untagged by now, unless someone tagged it meanwhile: then it is not the node's any more.
    const left = await this.images.inspect(image.id);
    if (left && (left.RepoTags ?? []).some((t) => t !== '<none>:<none>')) throw new HandlerError(ErrorCode.FailedPrecondition, `image ${image.id} was tagged again while it was being removed: ${left.RepoTags!.join(', ')}`);
    if (left) await dockerCall(() => gone(() => this.docker.getImage(image.id).remove()));
    this.logger.info({ image: image.id, names: image.repoTags, size: String(image.size) }, 'removed an image');
    await this.pulled.forget(image);
  }
}

export const nodeStatFs: StatFs = (path) => statfs(path);
