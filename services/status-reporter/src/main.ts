import 'reflect-metadata';
import { commonSchema, runService, untilAborted } from '@splitlet/service';

// The service's duty comes with its own issue; until then it joins the node's
// services (ping, info, stats) and stops cleanly.
await runService({
  name: 'status-reporter',
  version: '0.1.0',
  description: 'The one writer of pod status and Events',
  configSchema: commonSchema,
  wire: () => ({ run: untilAborted }),
});
