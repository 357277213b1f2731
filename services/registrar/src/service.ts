import type { ServiceSpec } from '@splitlet/service';
import { configSchema } from './config';
import { wire } from './container';

/** What the service is: run alone by main.ts, or beside the others in the all-in-one node. */
export const spec: ServiceSpec<typeof configSchema> = {
  name: 'registrar',
  version: '0.1.0',
  description: 'The Node object, its Lease and node status',
  configSchema,
  wire,
};
