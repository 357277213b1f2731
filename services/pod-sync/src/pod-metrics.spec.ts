import type { V1Pod } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { create } from '@bufbuild/protobuf';
import { RemoteError } from '@splitlet/bus';
import { ContainerState, ContainerStatusSchema, PodSandboxState, PodSandboxStatusSchema } from '@splitlet/contracts';
import { createLogger } from '@splitlet/telemetry';
import { PodSyncMetrics } from './pod-metrics';

const logger = createLogger('pod-sync', { level: 'silent' });

/** A runtime that lists what the test says (or fails when it says so). */
function runtime(state: { sandboxes: [string, PodSandboxState][]; containers: ContainerState[]; down?: boolean }) {
  return {
    listPodSandbox: async () => {
      if (state.down) throw new Error('no responders');
      return { items: state.sandboxes.map(([uid, s], i) => create(PodSandboxStatusSchema, { id: `s${i}`, state: s, metadata: { uid } })) };
    },
    listContainers: async () => {
      if (state.down) throw new Error('no responders');
      return { containers: state.containers.map((s, i) => create(ContainerStatusSchema, { id: `c${i}`, state: s })) };
    },
  } as never;
}

async function values(m: PodSyncMetrics): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (const f of await m.registry.getMetricsAsJSON()) {
    for (const v of f.values as { value: number; labels: Record<string, string | number>; metricName?: string }[]) {
      out[`${v.metricName ?? f.name}{${Object.entries(v.labels).map(([k, l]) => `${k}=${l}`).join(',')}}`] = v.value;
    }
  }
  return out;
}

describe('pod-sync metrics', () => {
  it('pod metrics - running pods are the pods with a ready sandbox, containers counted by state, as the runtime lists them at the scrape', async () => {
    const state = {
      sandboxes: [['u1', PodSandboxState.READY], ['u1', PodSandboxState.NOTREADY_UNSPECIFIED], ['u2', PodSandboxState.READY], ['u3', PodSandboxState.NOTREADY_UNSPECIFIED]] as [string, PodSandboxState][],
      containers: [ContainerState.RUNNING, ContainerState.RUNNING, ContainerState.EXITED, ContainerState.CREATED],
      down: false,
    };
    const m = new PodSyncMetrics(runtime(state), logger);
    let v = await values(m);
    expect(v['kubelet_running_pods{}']).toBe(2);
    expect(v['kubelet_running_containers{container_state=running}']).toBe(2);
    expect(v['kubelet_running_containers{container_state=exited}']).toBe(1);
    expect(v['kubelet_running_containers{container_state=created}']).toBe(1);
    expect(v['kubelet_running_containers{container_state=unknown}']).toBe(0);
    state.containers = [ContainerState.EXITED];
    v = await values(m);
    expect(v['kubelet_running_containers{container_state=running}']).toBe(0);
    // The runtime away: the last values stand.
    state.down = true;
    v = await values(m);
    expect(v['kubelet_running_pods{}']).toBe(2);
    expect(v['kubelet_running_containers{container_state=exited}']).toBe(1);
  });

  it('pod metrics - a pod\'s start is timed from when this process first saw it to its first Running, once', async () => {
    const m = new PodSyncMetrics(runtime({ sandboxes: [], containers: [] }), logger);
    m.seen('u1', 10_000);
    m.seen('u1', 11_000); // a later sync does not move the first sight
    m.phase('u1', undefined, 'Pending', 12_000);
    m.phase('u1', 'Pending', 'Running', 13_500);
    m.phase('u1', 'Running', 'Running', 20_000);
    // A pod this process saw already Running (a restart) is not counted; nor is one never seen.
    m.seen('u2', 10_000);
    m.phase('u2', 'Running', 'Running', 12_000);
    m.phase('u3', 'Pending', 'Running', 12_000);
    const v = await values(m);
    expect(v['kubelet_pod_start_duration_seconds_count{}']).toBe(1);
    expect(v['kubelet_pod_start_duration_seconds_sum{}']).toBe(3.5);
    expect(v['kubelet_pod_start_duration_seconds_bucket{le=3}']).toBe(0);
    expect(v['kubelet_pod_start_duration_seconds_bucket{le=4}']).toBe(1);
    m.forget('u1');
    m.phase('u1', 'Pending', 'Running', 30_000);
    expect((await values(m))['kubelet_pod_start_duration_seconds_count{}']).toBe(1);
  });

  it('pod metrics - started pods and containers are counted by type, failures with the runtime\'s code', async () => {
    const m = new PodSyncMetrics(runtime({ sandboxes: [], containers: [] }), logger);
    m.sandboxStarting();
    m.sandboxStarting();
    m.sandboxFailed();
    m.containerStarting('init_container');
    m.containerStarting('container');
    m.containerStarting('container');
    m.containerFailed('container', new RemoteError('s', 4, 'timed out'));
    m.containerFailed('container', new Error('no responders'));
    const v = await values(m);
    expect(v['kubelet_started_pods_total{}']).toBe(2);
    expect(v['kubelet_started_pods_errors_total{}']).toBe(1);
    expect(v['kubelet_started_containers_total{container_type=container}']).toBe(2);
    expect(v['kubelet_started_containers_total{container_type=init_container}']).toBe(1);
    expect(v['kubelet_started_containers_errors_total{container_type=container,code=DeadlineExceeded}']).toBe(1);
    expect(v['kubelet_started_containers_errors_total{container_type=container,code=Unknown}']).toBe(1);
  });

  it('pod metrics - the startup SLI: creation to the watch showing every container started, less the image pulls; once, and only for a pod first watched before it started', async () => {
    const m = new PodSyncMetrics(runtime({ sandboxes: [], containers: [] }), logger);
    const T = Date.UTC(2026, 0, 1);
    const pod = (uid: string, status: V1Pod['status']): V1Pod => ({ metadata: { uid, creationTimestamp: new Date(T) }, status });
    const running = [{ name: 'app', image: 'x', imageID: '', ready: true, restartCount: 0, state: { running: { startedAt: new Date(T + 4_500) } } }];
    const waiting = [{ name: 'app', image: 'x', imageID: '', ready: false, restartCount: 0, state: { waiting: { reason: 'ContainerCreating' } } }];
    // u1: pulled for 3 s, running at 5 s, the watch shows it at 6 s.
    m.observedOnWatch(pod('u1', { phase: 'Pending' }), T + 100);
    m.imagePullStarted('u1', T + 1_000);
    m.imagePullFinished('u1', T + 4_000);
    m.statusUpdated('u1', waiting, T + 4_200);
    m.observedOnWatch(pod('u1', { phase: 'Pending', startTime: new Date(T + 1_000), containerStatuses: waiting }), T + 4_300);
    m.statusUpdated('u1', running, T + 5_000);
    m.observedOnWatch(pod('u1', { phase: 'Running', startTime: new Date(T + 1_000), containerStatuses: running }), T + 6_000);
    m.observedOnWatch(pod('u1', { phase: 'Running', startTime: new Date(T + 1_000), containerStatuses: running }), T + 9_000);
    // u2: already started when first watched (a pod-sync restart): not counted.
    m.observedOnWatch(pod('u2', { phase: 'Running', startTime: new Date(T), containerStatuses: running }), T + 100);
    m.statusUpdated('u2', running, T + 200);
    m.observedOnWatch(pod('u2', { phase: 'Running', startTime: new Date(T), containerStatuses: running }), T + 300);
    const v = await values(m);
    expect(v['kubelet_pod_start_sli_duration_seconds_count{}']).toBe(1);
    expect(v['kubelet_pod_start_sli_duration_seconds_sum{}']).toBe(3);
    expect(v['kubelet_pod_start_total_duration_seconds_sum{}']).toBe(6);
    expect(v['kubelet_pod_start_total_duration_seconds_count{}']).toBe(1);
  });
});
