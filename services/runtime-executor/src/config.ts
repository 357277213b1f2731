import { commonSchema } from '@splitlet/config';
import { z } from 'zod';

export const configSchema = commonSchema.extend({
  /** The Docker Engine to drive: unix:///path/to/docker.sock or tcp://host:port. */
  DOCKER_HOST: z
    .string()
    .default('unix:///var/run/docker.sock')
    .refine((v) => /^(unix:\/\/\/.+|tcp:\/\/[^/]+)$/.test(v), 'must be unix:///path or tcp://host:port'),
});

export type Config = z.infer<typeof configSchema>;
