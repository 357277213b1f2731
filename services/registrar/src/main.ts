import 'reflect-metadata';
import { runService } from '@splitlet/service';
import { configSchema } from './config';
import { wire } from './container';

await runService({
  name: 'registrar',
  version: '0.1.0',
  description: 'The Node object, its Lease and node status',
  configSchema,
  wire,
});
