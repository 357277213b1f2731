import 'reflect-metadata';
import { beforeEach, describe, expect, it } from 'vitest';
import { container } from 'tsyringe';
import { TOKENS } from '@splitlet/service';
import { createLogger } from '@splitlet/telemetry';
import { FakeClock } from '@splitlet/testing';
import { FakeNodeApi } from './__fixtures__/fake-node-api';
import { healthyInputs } from './__fixtures__/inputs';
import { DEFAULT_EVICTION_HARD, parseThresholds } from '@splitlet/eviction';
import type { NodeInputs } from './node-status';
import { NodeStatusManager, newer, type NodeIdentity, type RegistrarTiming } from './node-status-manager';
import { REG } from './tokens';

describe('registrar NodeStatusManager', () => {
  let clock: FakeClock;
  let api: FakeNodeApi;
  let inputs: NodeInputs;
  let manager: NodeStatusManager;
  let events: string[];
  const identity: NodeIdentity = {
    labels: { 'kubernetes.io/hostname': 'node-a', 'kubernetes.io/os': 'linux', 'kubernetes.io/arch': 'amd64', 'example.com/tier': 'edge' },
    taints: [{ key: 'dedicated', value: 'splitlet', effect: 'NoSchedule' }],
  };
  const timing: RegistrarTiming = { updateFrequencyMs: 10_000, reportFrequencyMs: 300_000, leaseDurationSeconds: 40 };

  beforeEach(() => {
    clock = new FakeClock(Date.UTC(2026, 10, 28, 12));
    api = new FakeNodeApi();
    inputs = healthyInputs();
    const c = container.createChildContainer();
    c.registerInstance(REG.NodeApi, api);
    c.registerInstance(REG.Inputs, { gather: async () => structuredClone(inputs) });
    c.registerInstance(REG.StatusSettings, {
      nodeName: 'node-a',
      kubeletVersion: 'v0.1.0',
      kubeletPort: 10250,
      maxPods: 110,
      systemReserved: {},
      kubeReserved: {},
      evictionHard: parseThresholds(DEFAULT_EVICTION_HARD),
    });
    c.registerInstance(REG.Timing, timing);
    c.registerInstance(REG.Identity, identity);
    c.registerInstance(TOKENS.Clock, clock);
    c.registerInstance(TOKENS.Logger, createLogger('test', { level: 'silent' }));
    events = [];
    c.registerInstance(REG.NodeEvents, (type: string, reason: string, message: string) => events.push(`${type} ${reason}: ${message}`));
    manager = c.resolve(NodeStatusManager);
  });

  it('NodeStatusManager - registers the Node with labels, taints, the attach-detach annotation and a full status', async () => {
    await manager.register();
    const node = api.nodes.get('node-a')!;
    expect(node.metadata?.labels).toEqual(identity.labels);
    expect(node.metadata?.annotations).toEqual({ 'volumes.kubernetes.io/controller-managed-attach-detach': 'true' });
    expect(node.spec?.taints).toEqual(identity.taints);
    expect(node.status?.conditions?.find((c) => c.type === 'Ready')?.status).toBe('True');
  });

  it('NodeStatusManager - retries registration 100 ms, 200 ms, 400 ms ... while the API server fails', async () => {
    api.failWith = 503;
    const abort = new AbortController();
    const running = manager.run(abort.signal);
    const start = clock.now();
    for (let t = 0; t < 1600; t += 50) await clock.advance(50);
    // tries at 0, 100, 300, 700, 1500 ms
    expect(api.calls.filter((c) => c === 'createNode')).toHaveLength(5);
    expect(clock.now() - start).toBe(1600);
    api.failWith = undefined;
    await clock.advance(3200);
    expect(api.nodes.has('node-a')).toBe(true);
    abort.abort();
    await running;
  });

  it('NodeStatusManager - an existing Node: default labels reconciled, taints and other labels left alone', async () => {
    api.nodes.set('node-a', {
      metadata: { name: 'node-a', labels: { 'kubernetes.io/hostname': 'old', 'example.com/other': 'x' }, resourceVersion: '1' },
      spec: { taints: [{ key: 'admin', effect: 'NoExecute' }] },
    });
    await manager.register();
    const node = api.nodes.get('node-a')!;
    expect(node.metadata?.labels).toEqual({ 'kubernetes.io/hostname': 'node-a', 'kubernetes.io/os': 'linux', 'kubernetes.io/arch': 'amd64', 'example.com/other': 'x' });
    expect(node.spec?.taints).toEqual([{ key: 'admin', effect: 'NoExecute' }]);
    expect(node.metadata?.annotations?.['volumes.kubernetes.io/controller-managed-attach-detach']).toBe('true');
    expect(node.status?.conditions?.find((c) => c.type === 'Ready')?.status).toBe('True');
  });

  it('NodeStatusManager - registered NotReady: looks again every 500 ms and writes the moment it is Ready', async () => {
    inputs.missingServices = ['pod-sync'];
    const abort = new AbortController();
    const running = manager.run(abort.signal);
    await clock.settle();
    expect(api.nodes.get('node-a')?.status?.conditions?.find((c) => c.type === 'Ready')?.status).toBe('False');
    await clock.advance(2_000);
    expect(manager.writes.nodeStatusPatch).toBe(0); // still not ready: nothing written
    inputs.missingServices = [];
    await clock.advance(500);
    expect(manager.writes.nodeStatusPatch).toBe(1);
    expect(api.nodes.get('node-a')?.status?.conditions?.find((c) => c.type === 'Ready')?.status).toBe('True');
    abort.abort();
    await running;
  });

  it('NodeStatusManager - writes the status when it changes, else once per report period', async () => {
    const abort = new AbortController();
    const running = manager.run(abort.signal);
    await clock.settle();
    expect(manager.writes).toEqual({ nodeCreate: 1, nodeStatusPatch: 0 });
    await clock.advance(60_000); // six updates, nothing changed
    expect(manager.writes.nodeStatusPatch).toBe(0);
    inputs.missingServices = ['pod-sync']; // a change: written at the next update
    await clock.advance(10_500);
    expect(manager.writes.nodeStatusPatch).toBe(1);
    expect(api.nodes.get('node-a')?.status?.conditions?.find((c) => c.type === 'Ready')).toMatchObject({ status: 'False', reason: 'KubeletNotReady' });
    await clock.advance(290_000); // unchanged, within the report period: not written
    expect(manager.writes.nodeStatusPatch).toBe(1);
    await clock.advance(21_000); // the report period has passed: written once more
    expect(manager.writes.nodeStatusPatch).toBe(2);
    await clock.advance(311_000);
    expect(manager.writes.nodeStatusPatch).toBe(3);
    abort.abort();
    await running;
  });

  it('NodeStatusManager - another writer\'s Ready Unknown (the node lifecycle controller after an outage), seen through the watch, is overwritten at the next update', async () => {
    api.watching = true;
    const abort = new AbortController();
    const running = manager.run(abort.signal);
    await clock.settle();
    await clock.advance(20_500);
    expect(manager.writes.nodeStatusPatch).toBe(0);
    // The controller marks the node Unknown behind the registrar's back (a newer resourceVersion).
    const stored = api.nodes.get('node-a')!;
    const conditions = stored.status!.conditions!.map((c) => (c.type === 'Ready' ? { ...c, status: 'Unknown', reason: 'NodeStatusUnknown', message: 'Kubelet stopped posting node status.' } : c));
    api.nodes.set('node-a', { ...stored, metadata: { ...stored.metadata, resourceVersion: '999' }, status: { ...stored.status, conditions } });
    await clock.advance(10_500);
    expect(manager.writes.nodeStatusPatch).toBe(1);
    expect(api.nodes.get('node-a')?.status?.conditions?.find((c) => c.type === 'Ready')).toMatchObject({ status: 'True', reason: 'KubeletReady' });
    abort.abort();
    await running;
  });

  it('NodeStatusManager - the kubelet\'s Node events: Starting, each condition as registered, then each transition written; cordon and uncordon', async () => {
    api.watching = true;
    const abort = new AbortController();
    const running = manager.run(abort.signal);
    await clock.settle();
    const status = (e: string) => `Normal ${e}: Node node-a status is now: ${e}`;
    expect(events).toEqual(['Normal Starting: Starting kubelet.', ...['NodeHasSufficientMemory', 'NodeHasNoDiskPressure', 'NodeHasSufficientPID', 'NodeReady'].map(status)]);
    events.length = 0;
    await clock.advance(30_500); // nothing changed: nothing recorded
    expect(events).toEqual([]);
    inputs.missingServices = ['pod-sync'];
    await clock.advance(10_500);
    expect(events).toEqual([status('NodeNotReady')]);
    const stored = api.nodes.get('node-a')!;
    // kubectl cordon (a newer resourceVersion, seen through the watch).
    api.nodes.set('node-a', { ...stored, metadata: { ...stored.metadata, resourceVersion: '999' }, spec: { ...stored.spec, unschedulable: true } });
    inputs.missingServices = [];
    await clock.advance(10_500);
    expect(events).toEqual([status('NodeNotReady'), status('NodeNotSchedulable'), status('NodeReady')]);
    abort.abort();
    await running;
  });

  it('NodeStatusManager - restarted under memory pressure: the existing Node\'s MemoryPressure turns True with NodeHasInsufficientMemory', async () => {
    await manager.register();
    expect(api.nodes.get('node-a')?.status?.conditions?.find((c) => c.type === 'MemoryPressure')?.status).toBe('False');
    events.length = 0;
    inputs.measurements = { ...inputs.measurements!, memoryAvailableBytes: 50n * 1024n * 1024n };
    const restarted = container.createChildContainer();
    for (const [token, value] of [[REG.NodeApi, api], [REG.Inputs, { gather: async () => structuredClone(inputs) }], [REG.Timing, timing], [REG.Identity, identity], [TOKENS.Clock, clock], [TOKENS.Logger, createLogger('test', { level: 'silent' })]] as const) restarted.registerInstance(token, value);
    restarted.registerInstance(REG.StatusSettings, { nodeName: 'node-a', kubeletVersion: 'v0.1.0', kubeletPort: 10250, maxPods: 110, systemReserved: {}, kubeReserved: {}, evictionHard: parseThresholds(DEFAULT_EVICTION_HARD) });
    restarted.registerInstance(REG.NodeEvents, (type: string, reason: string, message: string) => events.push(`${type} ${reason}: ${message}`));
    await restarted.resolve(NodeStatusManager).register();
    expect(api.nodes.get('node-a')?.status?.conditions?.find((c) => c.type === 'MemoryPressure')?.status).toBe('True');
    expect(events).toEqual(['Normal NodeHasInsufficientMemory: Node node-a status is now: NodeHasInsufficientMemory']);
  });

  it('newer - the copy with the greater resourceVersion; the first when they cannot be compared', () => {
    const n = (rv: string | undefined, tag: string) => ({ metadata: { resourceVersion: rv, name: tag } });
    expect(newer(n('5', 'a'), n('7', 'b'))?.metadata.name).toBe('b');
    expect(newer(n('7', 'a'), n('5', 'b'))?.metadata.name).toBe('a');
    expect(newer(n('x', 'a'), n('5', 'b'))?.metadata.name).toBe('a');
    expect(newer(undefined, n('5', 'b'))?.metadata.name).toBe('b');
  });
});
