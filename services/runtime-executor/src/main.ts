import 'reflect-metadata';
import { runService } from '@splitlet/service';
import { configSchema } from './config';
import { wire } from './container';

await runService({
  name: 'runtime-executor',
  version: '0.1.0',
  description: 'The only part that touches Docker: CRI-shaped runtime calls over NATS',
  configSchema,
  wire,
});
