import 'reflect-metadata';
import { beforeEach, describe, expect, it } from 'vitest';
import { container } from 'tsyringe';
import { create } from '@bufbuild/protobuf';
import { NoRespondersError, RemoteError, RequestTimeoutError, type ServiceClient } from '@splitlet/bus';
import { VersionResponseSchema, type RuntimeService } from '@splitlet/contracts';
import { TOKENS } from '@splitlet/service';
import { createLogger } from '@splitlet/telemetry';
import { FakeClock } from '@splitlet/testing';
import { RuntimeMonitor } from './runtime-monitor';
import { REG } from './tokens';

type Runtime = ServiceClient<typeof RuntimeService>;

describe('registrar RuntimeMonitor', () => {
  let clock: FakeClock;
  let answer: () => Promise<unknown>;
  let calls: number;
  let monitor: RuntimeMonitor;

  beforeEach(() => {
    clock = new FakeClock();
    calls = 0;
    answer = async () => create(VersionResponseSchema, { version: 'v1', runtimeName: 'docker', runtimeVersion: '20.10.24' });
    const runtime = {
      version: () => {
        calls++;
        return answer();
      },
      status: () => Promise.reject(new Error('unused')),
    } as unknown as Runtime;
    const c = container.createChildContainer();
    c.registerInstance(REG.Runtime, runtime);
    c.registerInstance(REG.RuntimeCheckIntervalMs, 10_000);
    c.registerInstance(TOKENS.NodeName, 'n1');
    c.registerInstance(TOKENS.Clock, clock);
    c.registerInstance(TOKENS.Logger, createLogger('test', { level: 'silent' }));
    monitor = c.resolve(RuntimeMonitor);
  });

  it('RuntimeMonitor - is ready with the runtime version once the executor answers', async () => {
    expect(monitor.health).toEqual({ state: 'unknown' });
    const health = await monitor.check();
    expect(health).toMatchObject({ state: 'ready', version: { runtimeName: 'docker', runtimeVersion: '20.10.24' } });
  });

  it.each([
    [new NoRespondersError('s'), 'RuntimeExecutorAbsent'],
    [new RequestTimeoutError('s', 5000), 'RuntimeExecutorTimeout'],
    [new RemoteError('s', 14, 'docker: down'), 'RuntimeError'],
  ])('RuntimeMonitor - names why the runtime is unreachable (%s)', async (err, reason) => {
    answer = () => Promise.reject(err);
    expect(await monitor.check()).toEqual({ state: 'unreachable', reason, message: err.message });
  });

  it('RuntimeMonitor - checks once per interval and stops when aborted', async () => {
    const abort = new AbortController();
    const running = monitor.run(abort.signal);
    await clock.settle();
    expect(calls).toBe(1);
    await clock.advance(9_999);
    expect(calls).toBe(1);
    await clock.advance(1);
    expect(calls).toBe(2);
    await clock.advance(30_000);
    expect(calls).toBe(5);
    abort.abort();
    await running;
    expect(clock.pending).toBe(0);
  });
});
