import 'reflect-metadata';
import { beforeAll, describe, expect, it } from 'vitest';
import { container } from 'tsyringe';
import { headers as natsHeaders } from '@nats-io/transport-node';
import { methodSubject, RPC_STALL_MS, RPC_WORKING_HEADER } from '@splitlet/bus';
import { ImageService, RuntimeService } from '@splitlet/contracts';
import { TOKENS } from '@splitlet/service';
import { createLogger } from '@splitlet/telemetry';
import { FakeClock, useNatsServer } from '@splitlet/testing';
import { DEFAULT_EVICTION_HARD, parseThresholds } from '@splitlet/eviction';
import { BusNodeInputs, type InputSettings } from './inputs';
import { HEALTHY_RUNTIME_ANSWERS } from './__fixtures__/runtime-answers';
import { REG } from './tokens';

const NODE = 'lost-node';

// registrar's runtime view when runtime-executor takes the request, says it works on
// it, and falls silent (killed with the request in hand): the reason names that, not
// a timeout that did not happen.
describe('registrar inputs over the bus', () => {
  const nats = useNatsServer();

  /** registrar's inputs for `node`, its runtime calls waiting up to `timeoutMs`. */
  const inputsOf = (node: string, timeoutMs: number) => {
    const c = container.createChildContainer();
    c.registerInstance(TOKENS.Nats, nats.nc);
    c.registerInstance(TOKENS.NodeName, node);
    c.registerInstance(TOKENS.Logger, createLogger('registrar-inputs', { level: 'silent' }));
    c.registerInstance(TOKENS.Config, { SPLITLET_HOST_ROOT: '/', SPLITLET_RUNTIME_REQUEST_TIMEOUT_MS: timeoutMs, SPLITLET_NODE_REQUIRED_SERVICES: [] } satisfies InputSettings);
    c.registerInstance(TOKENS.Clock, new FakeClock());
    c.registerInstance(REG.StatusSettings, { nodeName: node, kubeletVersion: 'v0.1.0', kubeletPort: 10250, maxPods: 110, systemReserved: {}, kubeReserved: {}, evictionHard: parseThresholds(DEFAULT_EVICTION_HARD) });
    c.registerInstance(REG.Shutdown, { shuttingDown: () => false });
    return c.resolve(BusNodeInputs);
  };

  beforeAll(() => {
    const word = natsHeaders();
    word.set(RPC_WORKING_HEADER, '1');
    for (const [service, methods] of [
      [RuntimeService, ['Version', 'Status']],
      [ImageService, ['ListImages', 'ImageFsInfo']],
    ] as const)
      for (const m of methods) nats.nc.subscribe(methodSubject(NODE, service, m), { callback: (_err, msg) => void msg.respond(undefined, { headers: word }) });
  });

  it('runtime-executor fell silent holding the request: the runtime is unreachable, and the reason says so (not "did not answer within 30000 ms")', async () => {
    const t0 = Date.now();
    const inputs = await inputsOf(NODE, 30_000).gather();
    expect(Date.now() - t0).toBeLessThan(RPC_STALL_MS + 3_000);
    expect(inputs.runtime).toEqual({ state: 'unreachable', message: `runtime-executor took the request and fell silent (no word for ${RPC_STALL_MS} ms)` });
  });

  it('a first relist that hangs holds the first update up no longer than a runtime call: the runtime answered, "PLEG is not healthy: pleg has yet to be successful"', async () => {
    const node = 'hung-relist-node';
    for (const m of ['Version', 'Status', 'ListPodSandbox'] as const)
      nats.nc.subscribe(methodSubject(node, RuntimeService, m), { callback: (_err, msg) => void msg.respond(HEALTHY_RUNTIME_ANSWERS[m]()) });
    // Taken, never answered, no word: as Docker's inspects when its engine deadlocked.
    nats.nc.subscribe(methodSubject(node, RuntimeService, 'ListContainers'), { callback: () => undefined });
    await nats.nc.flush();
    const t0 = Date.now();
    const inputs = await inputsOf(node, 1_000).gather();
    expect(Date.now() - t0).toBeLessThan(2_500);
    expect(inputs.runtime.state).toBe('answered');
    expect(inputs.plegUnhealthy).toBe('pleg has yet to be successful');
  });
});
