import 'reflect-metadata';
import { runService } from '@splitlet/service';
import { configSchema } from './config';
import { wire } from './container';

await runService({
  name: 'node-api',
  version: '0.1.0',
  description: "The kubelet's HTTPS API: authentication, authorization, container logs, pods",
  configSchema,
  wire,
});
