import 'reflect-metadata';
import { runService } from '@splitlet/service';
import { configSchema } from './config';
import { wire } from './container';

await runService({
  name: 'pod-sync',
  version: '0.1.0',
  description: 'Drives the pods bound to this node toward their spec',
  configSchema,
  wire,
});
