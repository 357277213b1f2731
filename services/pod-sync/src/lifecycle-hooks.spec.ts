import type { V1Container, V1Pod } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { runHook } from './lifecycle-hooks';

// A sleep and a grace period of 30 days: Kubernetes validation allows them, a timer
// past ~24.8 days fires after 1 ms. (A socket's timeout, the httpGet hook's, Node
// truncates to the longest instead.)
const THIRTY_DAYS_S = 30 * 86_400;
const pod: V1Pod = { metadata: { uid: 'u1', name: 'p', namespace: 'ns' }, spec: { containers: [] } };
const c: V1Container = { name: 'app', image: 'x' };
const noRuntime = {} as Parameters<typeof runHook>[0];

describe('pod-sync lifecycle hooks', () => {
  it('hooks - a sleep past setTimeout\'s longest does not end at once (it ended after 1 ms)', async () => {
    let done = false;
    void runHook(noRuntime, pod, c, { sleep: { seconds: THIRTY_DAYS_S } }, { containerId: 'c1', podIP: '127.0.0.1' }, THIRTY_DAYS_S).then(() => (done = true));
    await new Promise((r) => setTimeout(r, 50));
    expect(done).toBe(false);
  });
});
