import { commonSchema } from '@splitlet/config';
import { z } from 'zod';

export const configSchema = commonSchema.extend({
  /** How often to ask runtime-executor for the runtime's version and status. */
  SPLITLET_RUNTIME_CHECK_INTERVAL_MS: z.coerce.number().int().min(100).default(10_000),
});

export type Config = z.infer<typeof configSchema>;
