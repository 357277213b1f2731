import { afterEach, beforeEach } from 'vitest';
import { serviceLogsSince } from '@splitlet/testing';

// A failed e2e test prints what its node's services logged while it ran (and every
// warning before): the CI run keeps nothing but its output, and a test that fails
// once in many runs is a race to be found from that.
let startedAt = 0;
beforeEach(() => {
  startedAt = Date.now();
});
afterEach((ctx) => {
  if (ctx.task.result?.state !== 'fail') return;
  const logs = serviceLogsSince(startedAt);
  if (logs) console.error(`service logs for "${ctx.task.name}":\n${logs}`);
});
