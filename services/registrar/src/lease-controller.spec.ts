import 'reflect-metadata';
import { beforeEach, describe, expect, it } from 'vitest';
import { container } from 'tsyringe';
import { TOKENS } from '@splitlet/service';
import { createLogger } from '@splitlet/telemetry';
import { FakeClock } from '@splitlet/testing';
import { FakeNodeApi } from './__fixtures__/fake-node-api';
import { NodeLeaseController } from './lease-controller';
import { REG } from './tokens';

describe('registrar NodeLeaseController', () => {
  let clock: FakeClock;
  let api: FakeNodeApi;
  let lease: NodeLeaseController;

  beforeEach(() => {
    clock = new FakeClock(Date.UTC(2026, 10, 28, 12));
    api = new FakeNodeApi();
    api.nodes.set('node-a', { metadata: { name: 'node-a', uid: 'uid-node-a' } });
    const c = container.createChildContainer();
    c.registerInstance(REG.NodeApi, api);
    c.registerInstance(REG.Timing, { updateFrequencyMs: 10_000, reportFrequencyMs: 300_000, leaseDurationSeconds: 40 });
    c.registerInstance(TOKENS.NodeName, 'node-a');
    c.registerInstance(TOKENS.Clock, clock);
    c.registerInstance(TOKENS.Logger, createLogger('test', { level: 'silent' }));
    lease = c.resolve(NodeLeaseController);
  });

  const stored = () => api.leases.get('kube-node-lease/node-a');

  it('NodeLeaseController - creates kube-node-lease/<node> owned by the Node, 40 s, renewTime in microseconds', async () => {
    await lease.sync(new AbortController().signal);
    expect(stored()?.spec).toMatchObject({ holderIdentity: 'node-a', leaseDurationSeconds: 40 });
    expect(String(stored()?.spec?.renewTime)).toBe('2026-11-28T12:00:00.000000Z');
    expect(stored()?.metadata?.ownerReferences).toEqual([{ apiVersion: 'v1', kind: 'Node', name: 'node-a', uid: 'uid-node-a' }]);
  });

  it('NodeLeaseController - renews every 10 s (leaseDuration / 4) with a fresh renewTime', async () => {
    const abort = new AbortController();
    const running = lease.run(abort.signal);
    await clock.settle();
    expect(lease.writes).toEqual({ leaseCreate: 1, leaseUpdate: 0 }); // a new lease needs no update
    await clock.advance(10_500);
    expect(lease.writes.leaseUpdate).toBe(1);
    expect(new Date(String(stored()?.spec?.renewTime)).getTime() - Date.UTC(2026, 10, 28, 12)).toBeGreaterThanOrEqual(10_000);
    // Each renewal comes 10 to 10.4 s after the last (4 % jitter): the 4th by 41.6 s,
    // the 5th not before 50 s. At 45.5 s there have been exactly 4, whatever the jitter.
    await clock.advance(35_000);
    expect(lease.writes.leaseUpdate).toBe(4);
    abort.abort();
    await running;
  });

  it('NodeLeaseController - backs off 200 ms doubling to 7 s while the lease cannot be read', async () => {
    api.failWith = 500;
    const abort = new AbortController();
    const running = lease.run(abort.signal);
    for (let t = 0; t < 30_000; t += 100) await clock.advance(100);
    const reads = api.calls.filter((c) => c === 'readLease').length;
    // tries at 0, .2, .6, 1.4, 3, 6.2, 12.6 (cap 7 s), 19.6, 26.6 s
    expect(reads).toBe(9);
    api.failWith = undefined;
    await clock.advance(7_000);
    expect(stored()).toBeDefined();
    abort.abort();
    await running;
  });

  it('NodeLeaseController - a conflicting update re-reads the lease and succeeds', async () => {
    await lease.sync(new AbortController().signal);
    const other = stored()!;
    api.leases.set('kube-node-lease/node-a', { ...other, metadata: { ...other.metadata, resourceVersion: '999' } });
    await lease.sync(new AbortController().signal);
    expect(api.calls.slice(-3)).toEqual(['replaceLease', 'readLease', 'replaceLease']);
    expect(stored()?.metadata?.resourceVersion).not.toBe('999');
  });
});
