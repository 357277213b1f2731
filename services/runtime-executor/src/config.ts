import { commonSchema } from '@splitlet/config';
import { z } from 'zod';

export const configSchema = commonSchema.extend({
  /** The Docker Engine to drive: unix:///path/to/docker.sock or tcp://host:port. */
  DOCKER_HOST: z
    .string()
    .default('unix:///var/run/docker.sock')
    .refine((v) => /^(unix:\/\/\/.+|tcp:\/\/[^/]+)$/.test(v), 'must be unix:///path or tcp://host:port'),
  /** How long a Docker call may take before it is given up (answered 4); the kubelet's --runtime-request-timeout. A stop adds its grace period. */
  SPLITLET_DOCKER_REQUEST_TIMEOUT_MS: z.coerce.number().int().min(100).default(120_000),
  /** The sandbox (pause) image when RunPodSandbox names none; the kubelet's default. */
  SPLITLET_PAUSE_IMAGE: z.string().min(1).default('registry.k8s.io/pause:3.10'),
});

export type Config = z.infer<typeof configSchema>;
