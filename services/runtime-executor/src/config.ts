import { commonSchema } from '@splitlet/config';
import { z } from 'zod';

export const configSchema = commonSchema.extend({
  /** The Docker Engine to drive: unix:///path/to/docker.sock or tcp://host:port. */
  DOCKER_HOST: z
    .string()
    .default('unix:///var/run/docker.sock')
    .refine((v) => /^(unix:\/\/\/.+|tcp:\/\/[^/]+)$/.test(v), 'must be unix:///path or tcp://host:port'),
  /** The sandbox (pause) image when RunPodSandbox names none; the kubelet's default. */
  SPLITLET_PAUSE_IMAGE: z.string().min(1).default('registry.k8s.io/pause:3.10'),
});

export type Config = z.infer<typeof configSchema>;
