import {
  create,
  ImageFsInfoResponseSchema,
  ListContainersResponseSchema,
  ListImagesResponseSchema,
  ListPodSandboxResponseSchema,
  StatusResponseSchema,
  toBinary,
  VersionResponseSchema,
} from '@splitlet/contracts';

const GiB = 1024n ** 3n;

/** What a healthy runtime-executor of a node with no pods answers to the registrar's runtime calls (its status, and its relist), encoded. */
export const HEALTHY_RUNTIME_ANSWERS = {
  Version: () => toBinary(VersionResponseSchema, create(VersionResponseSchema, { version: 'v1', runtimeName: 'docker', runtimeVersion: '20.10.24', runtimeApiVersion: '1.41' })),
  Status: () =>
    toBinary(
      StatusResponseSchema,
      create(StatusResponseSchema, {
        status: {
          conditions: [
            { type: 'RuntimeReady', status: true },
            { type: 'NetworkReady', status: true },
          ],
        },
      }),
    ),
  ListImages: () => toBinary(ListImagesResponseSchema, create(ListImagesResponseSchema, { images: [{ id: 'sha256:pause', repoTags: ['splitlet-lab/pause:1'], size: 700_000n }] })),
  ImageFsInfo: () =>
    toBinary(
      ImageFsInfoResponseSchema,
      create(ImageFsInfoResponseSchema, { imageFilesystems: [{ mountpoint: '/var/lib/docker', capacityBytes: 100n * GiB, availableBytes: 60n * GiB, inodes: 1_000_000n, inodesFree: 900_000n }] }),
    ),
  ListPodSandbox: () => toBinary(ListPodSandboxResponseSchema, create(ListPodSandboxResponseSchema, {})),
  ListContainers: () => toBinary(ListContainersResponseSchema, create(ListContainersResponseSchema, {})),
} satisfies Record<string, () => Uint8Array>;
