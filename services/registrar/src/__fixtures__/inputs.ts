import { create } from '@bufbuild/protobuf';
import { FilesystemUsageSchema, ImageSchema, VersionResponseSchema } from '@splitlet/contracts';
import type { NodeInputs } from '../node-status';

const GiB = 1024n ** 3n;

/** A healthy 4-core, 16 GiB machine with a 100 GiB Docker filesystem. */
export function healthyInputs(over: Partial<NodeInputs> = {}): NodeInputs {
  return {
    facts: {
      hostname: 'node-a',
      internalIP: '192.0.2.10',
      os: 'linux',
      architecture: 'amd64',
      kernelVersion: '6.1.0-test',
      osImage: 'Debian GNU/Linux 12 (bookworm)',
      machineID: 'machine-1',
      systemUUID: 'uuid-1',
      bootID: 'boot-1',
      cpuCores: 4,
      memoryBytes: 16_697_028_608n,
    },
    measurements: { memoryAvailableBytes: 8n * GiB, memoryCapacityBytes: 16_697_028_608n, pidAvailable: 30_000n, pidMax: 32_768n },
    runtime: {
      state: 'answered',
      version: create(VersionResponseSchema, { version: 'v1', runtimeName: 'docker', runtimeVersion: '20.10.24', runtimeApiVersion: '1.41' }),
      conditions: [
        { $typeName: 'splitlet.runtime.v1.RuntimeCondition', type: 'RuntimeReady', status: true, reason: '', message: '' },
        { $typeName: 'splitlet.runtime.v1.RuntimeCondition', type: 'NetworkReady', status: true, reason: '', message: '' },
      ],
    },
    images: [create(ImageSchema, { id: 'sha256:pause', repoTags: ['splitlet-lab/pause:1'], size: 700_000n })],
    imageFs: create(FilesystemUsageSchema, { mountpoint: '/var/lib/docker', capacityBytes: 100n * GiB, availableBytes: 60n * GiB, inodes: 1_000_000n, inodesFree: 900_000n }),
    missingServices: [],
    ...over,
  };
}
