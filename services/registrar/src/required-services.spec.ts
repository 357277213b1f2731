import 'reflect-metadata';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { container } from 'tsyringe';
import { Svcm, type Service } from '@nats-io/services';
import { connect, type NatsConnection, type Subscription } from '@nats-io/transport-node';
import { methodSubject } from '@splitlet/bus';
import { loadConfig } from '@splitlet/config';
import { ImageService, RuntimeService } from '@splitlet/contracts';
import { TOKENS } from '@splitlet/service';
import { createLogger } from '@splitlet/telemetry';
import { FakeClock, useNatsServer } from '@splitlet/testing';
import { FakeNodeApi } from './__fixtures__/fake-node-api';
import { HEALTHY_RUNTIME_ANSWERS } from './__fixtures__/runtime-answers';
import { configSchema } from './config';
import { DEFAULT_EVICTION_HARD, parseThresholds } from '@splitlet/eviction';
import { BusNodeInputs, type InputSettings } from './inputs';
import { NodeStatusManager, type RegistrarTiming } from './node-status-manager';
import { parseRequiredServices, type RequiredService } from './required-services';
import { REG } from './tokens';

// registrar's required services on a real nats-server: the node's services answer
// micro PINGs as libs/service registers them (name, metadata { node }), a fake
// runtime-executor answers healthily, and the fake API server's Node is what
// `kubectl get node -o yaml` would show. Time is a fake clock; pings are real.
const NODE = 'req-node';
const REQUIRED: RequiredService[] = ['pod-sync', 'prober', 'status-reporter', 'node-api'];


describe('registrar - required services', () => {
  const nats = useNatsServer();
  let servicesNc: NatsConnection;
  const subs: Subscription[] = [];
  const running = new Map<string, Service>();
  let api: FakeNodeApi;
  let manager: NodeStatusManager;
  let clock: FakeClock;

  /** A replica of `name` for `node` (this node unless told), as libs/service registers it. */
  const startService = async (name: string, node = NODE) => {
    const svc = await new Svcm(servicesNc).add({ name, version: '0.0.1', metadata: { node } });
    running.set(`${node}/${name}`, svc);
    await servicesNc.flush();
  };
  const stopService = async (name: string, node = NODE) => {
    await running.get(`${node}/${name}`)?.stop();
    running.delete(`${node}/${name}`);
    await servicesNc.flush();
  };
  const ready = () => api.nodes.get(NODE)?.status?.conditions?.find((c) => c.type === 'Ready');
  /** One status update `ms` after the last. */
  const updateAfter = async (ms: number) => {
    await clock.advance(ms);
    await manager.sync();
    return ready();
  };

  beforeAll(async () => {
    servicesNc = await connect({ servers: nats.server.url });
    for (const [service, methods] of [
      [RuntimeService, ['Version', 'Status', 'ListPodSandbox', 'ListContainers']],
      [ImageService, ['ListImages', 'ImageFsInfo']],
    ] as const)
      for (const m of methods) subs.push(servicesNc.subscribe(methodSubject(NODE, service, m), { callback: (_err, msg) => void msg.respond(HEALTHY_RUNTIME_ANSWERS[m]()) }));
    await servicesNc.flush();
  });
  afterAll(async () => {
    for (const s of subs) s.unsubscribe();
    await servicesNc?.close();
  });

  beforeEach(async () => {
    for (const s of REQUIRED) await startService(s);
    clock = new FakeClock(Date.UTC(2026, 11, 4, 12));
    api = new FakeNodeApi();
    const c = container.createChildContainer();
    c.registerInstance(TOKENS.Nats, nats.nc);
    c.registerInstance(TOKENS.NodeName, NODE);
    c.registerInstance(TOKENS.Logger, createLogger('registrar-required', { level: 'silent' }));
    c.registerInstance(TOKENS.Config, { SPLITLET_HOST_ROOT: '/', SPLITLET_RUNTIME_REQUEST_TIMEOUT_MS: 500, SPLITLET_NODE_REQUIRED_SERVICES: REQUIRED } satisfies InputSettings);
    c.registerInstance(TOKENS.Clock, clock);
    c.registerInstance(REG.NodeApi, api);
    c.registerInstance(REG.StatusSettings, { nodeName: NODE, kubeletVersion: 'v0.1.0', kubeletPort: 10250, maxPods: 110, systemReserved: {}, kubeReserved: {}, evictionHard: parseThresholds(DEFAULT_EVICTION_HARD) });
    c.registerInstance(REG.Shutdown, { shuttingDown: () => false });
    c.registerInstance(REG.Inputs, c.resolve(BusNodeInputs));
    c.registerInstance(REG.Timing, { updateFrequencyMs: 10_000, reportFrequencyMs: 300_000, leaseDurationSeconds: 40 } satisfies RegistrarTiming);
    c.registerInstance(REG.NodeEvents, () => undefined);
    c.registerInstance(REG.Identity, { labels: { 'kubernetes.io/hostname': NODE }, taints: [] });
    manager = c.resolve(NodeStatusManager);
    await manager.register();
  });
  afterEach(async () => {
    for (const key of [...running.keys()]) {
      await running.get(key)?.stop();
      running.delete(key);
    }
  });

  it('required services - every one answers: Ready', async () => {
    expect(ready()).toMatchObject({ status: 'True', reason: 'KubeletReady', message: 'kubelet is posting ready status' });
  });

  it('required services - a prober that stops answering: still Ready 20 s after its last answer, NotReady naming it past 30 s, Ready once it answers again', async () => {
    await stopService('prober');
    expect(await updateAfter(10_000)).toMatchObject({ status: 'True' }); // answered 10 s ago
    expect(await updateAfter(10_000)).toMatchObject({ status: 'True' }); // answered 20 s ago: still counts
    expect(await updateAfter(10_000)).toMatchObject({
      status: 'False',
      reason: 'KubeletNotReady',
      message: 'prober is not running: no prober service answers for this node',
    });
    await startService('prober');
    expect(await updateAfter(10_000)).toMatchObject({ status: 'True', reason: 'KubeletReady', message: 'kubelet is posting ready status' });
  });

  it('required services - a prober back within the threshold: the node never leaves Ready', async () => {
    await stopService('prober');
    expect(await updateAfter(10_000)).toMatchObject({ status: 'True' });
    expect(await updateAfter(10_000)).toMatchObject({ status: 'True' });
    await startService('prober');
    expect(await updateAfter(10_000)).toMatchObject({ status: 'True' });
    expect(await updateAfter(30_000)).toMatchObject({ status: 'True' }); // its new answers count from now on
  });

  it('required services - several missing: each named, in the order of the setting (pod-sync\'s message as before)', async () => {
    for (const s of ['node-api', 'pod-sync', 'status-reporter'] as const) await stopService(s);
    expect(await updateAfter(31_000)).toMatchObject({
      status: 'False',
      reason: 'KubeletNotReady',
      message:
        '[pod-sync is not running: no pod-sync service answers for this node, status-reporter is not running: no status-reporter service answers for this node, node-api is not running: no node-api service answers for this node]',
    });
  });

  it('required services - another node\'s prober does not answer for this one', async () => {
    await stopService('prober');
    await startService('prober', 'other-node');
    expect(await updateAfter(31_000)).toMatchObject({ status: 'False', message: 'prober is not running: no prober service answers for this node' });
  });

  it('required services - a service the setting leaves out may be gone', async () => {
    // The same node with the prober not required: a second inputs source on the same bus.
    const c = container.createChildContainer();
    c.registerInstance(TOKENS.Nats, nats.nc);
    c.registerInstance(TOKENS.NodeName, NODE);
    c.registerInstance(TOKENS.Logger, createLogger('registrar-required', { level: 'silent' }));
    c.registerInstance(TOKENS.Config, { SPLITLET_HOST_ROOT: '/', SPLITLET_RUNTIME_REQUEST_TIMEOUT_MS: 500, SPLITLET_NODE_REQUIRED_SERVICES: ['pod-sync', 'status-reporter'] } satisfies InputSettings);
    c.registerInstance(TOKENS.Clock, clock);
    c.registerInstance(REG.StatusSettings, { nodeName: NODE, kubeletVersion: 'v0.1.0', kubeletPort: 10250, maxPods: 110, systemReserved: {}, kubeReserved: {}, evictionHard: parseThresholds(DEFAULT_EVICTION_HARD) });
    c.registerInstance(REG.Shutdown, { shuttingDown: () => false });
    await stopService('prober');
    await stopService('node-api');
    expect((await c.resolve(BusNodeInputs).gather()).missingServices).toEqual([]);
  });
});

describe('registrar - SPLITLET_NODE_REQUIRED_SERVICES', () => {
  const load = (env: Record<string, string>) => loadConfig(configSchema, { SPLITLET_NODE_NAME: 'node-a', ...env });

  it('config - the default is every service but registrar and runtime-executor', () => {
    expect(load({}).SPLITLET_NODE_REQUIRED_SERVICES).toEqual(['pod-sync', 'prober', 'status-reporter', 'node-api']);
  });

  it('config - a list in its own order, each once', () => {
    expect(load({ SPLITLET_NODE_REQUIRED_SERVICES: 'prober, pod-sync,prober' }).SPLITLET_NODE_REQUIRED_SERVICES).toEqual(['prober', 'pod-sync']);
    expect(parseRequiredServices('status-reporter')).toEqual(['status-reporter']);
  });

  it('config - an unknown name is a configuration error naming the variable and the names it takes', () => {
    expect(() => load({ SPLITLET_NODE_REQUIRED_SERVICES: 'pod-sync,probr' })).toThrow(
      /SPLITLET_NODE_REQUIRED_SERVICES: unknown service "probr": one of pod-sync, prober, status-reporter, node-api/,
    );
    expect(() => load({ SPLITLET_NODE_REQUIRED_SERVICES: 'runtime-executor' })).toThrow(/SPLITLET_NODE_REQUIRED_SERVICES: "runtime-executor" cannot be listed: .*its own check/);
    expect(() => load({ SPLITLET_NODE_REQUIRED_SERVICES: 'registrar' })).toThrow(/SPLITLET_NODE_REQUIRED_SERVICES: "registrar" cannot be listed/);
  });
});
