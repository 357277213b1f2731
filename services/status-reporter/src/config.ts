import { commonSchema } from '@splitlet/config';
import { z } from 'zod';

export const configSchema = commonSchema.extend({
  /** The node's kubeconfig (identity system:node:<name>); unset: client-node's default search. */
  KUBECONFIG: z.string().optional(),
});

export type Config = z.infer<typeof configSchema>;
