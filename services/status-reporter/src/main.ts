import 'reflect-metadata';
import { runService } from '@splitlet/service';
import { configSchema } from './config';
import { wire } from './container';

await runService({
  name: 'status-reporter',
  version: '0.1.0',
  description: 'The one writer of pod status and Events',
  configSchema,
  wire,
});
