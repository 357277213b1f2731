import 'reflect-metadata';
import { runService } from '@splitlet/service';
import { configSchema } from './config';
import { wire } from './container';

await runService({
  name: 'prober',
  version: '0.1.0',
  description: 'Liveness, readiness and startup probes',
  configSchema,
  wire,
});
