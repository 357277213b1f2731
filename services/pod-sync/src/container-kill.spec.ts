import type { V1Container, V1Pod } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import type { ContainerStatus } from '@splitlet/contracts';
import { FakeClock } from '@splitlet/testing';
import { ContainerKiller } from './container-kill';

/**
 * A runtime stand-in on a fake clock: each container exits some time after its stop
 * signal (or is killed when its grace runs out); an exec preStop hook takes its time.
 * What it records is what a user sees: when each container got its stop signal and
 * how long it was given, and the pod's Events.
 */
function setup(exitAfterMs: Record<string, number>, hookMs: Record<string, number> = {}) {
  const clock = new FakeClock();
  const t0 = clock.now();
  const at = () => (clock.now() - t0) / 1000;
  const stops: { name: string; at: number; grace: number }[] = [];
  const hooks: { name: string; at: number }[] = [];
  const events: { reason: string; container: string; at: number }[] = [];
  const runtime = {
    stopContainer: async ({ containerId, timeout }: { containerId: string; timeout: bigint }) => {
      stops.push({ name: containerId, at: at(), grace: Number(timeout) });
      await clock.sleep(Math.min(exitAfterMs[containerId] ?? 0, Number(timeout) * 1000));
      return {};
    },
    execSync: async ({ containerId }: { containerId: string }) => {
      hooks.push({ name: containerId, at: at() });
      await clock.sleep(hookMs[containerId] ?? 0);
      return { exitCode: 0, stdout: new Uint8Array(), stderr: new Uint8Array() };
    },
  };
  const killer = new ContainerKiller(
    runtime as never,
    clock,
    (_pod, _type, reason, _message, container) => events.push({ reason, container, at: at() }),
    async () => '10.0.0.5',
  );
  /** Kills the running containers, moving the fake time on until all stops have ended. */
  const kill = async (pod: V1Pod, grace: number, running = [...(pod.spec?.initContainers ?? []), ...(pod.spec?.containers ?? [])].map((c) => c.name)) => {
    const done = killer.killContainers(pod, running.map((name) => ({ id: name, metadata: { name, attempt: 0 } }) as unknown as ContainerStatus), grace);
    await clock.settle(); // the kills under way (and their waits begun) before time moves
    await clock.advance(120_000);
    await done;
  };
  return { kill, stops, hooks, events };
}

const c = (name: string, extra: Partial<V1Container> = {}): V1Container => ({ name, image: 'busybox', ...extra });
const sidecar = (name: string, extra: Partial<V1Container> = {}) => c(name, { restartPolicy: 'Always', ...extra });
const preStop = { preStop: { exec: { command: ['sh', '-c', 'wget -qO- http://localhost:8080/bye'] } } };
const podOf = (initContainers: V1Container[], containers: V1Container[]): V1Pod => ({ metadata: { name: 'web', namespace: 'ns', uid: 'u1' }, spec: { initContainers, containers } });

describe('pod-sync container kill', () => {
  it('killContainers - sidecars get their stop signal after every app container has exited, in reverse order, each with what is left of the grace', async () => {
    const { kill, stops, events } = setup({ main1: 3000, main2: 5000, 'side-a': 1000, 'side-b': 1500 }, { main1: 4000 });
    const pod = podOf([c('setup'), sidecar('side-a'), sidecar('side-b')], [c('main1', { lifecycle: preStop }), c('main2')]);
    await kill(pod, 30, ['side-a', 'side-b', 'main1', 'main2']);
    expect(stops).toEqual([
      { name: 'main2', at: 0, grace: 30 },
      { name: 'main1', at: 4, grace: 26 }, // after its 4 s preStop
      { name: 'side-b', at: 7, grace: 23 }, // main1 exited at 7
      { name: 'side-a', at: 8.5, grace: 22 }, // side-b exited at 8.5; 8.5 s waited counts as 8
    ]);
    // Every container's Killing Event comes at once, as the kubelet records it before waiting.
    expect(events.filter((e) => e.reason === 'Killing').map((e) => [e.container, e.at])).toEqual([
      ['side-a', 0],
      ['side-b', 0],
      ['main1', 0],
      ['main2', 0],
    ]);
  });

  it('killContainers - a sidecar\'s own preStop runs at once, and its time comes off the grace too', async () => {
    const { kill, stops, hooks } = setup({ main: 3000 }, { side: 2000 });
    await kill(podOf([sidecar('side', { lifecycle: preStop })], [c('main')]), 30);
    expect(hooks).toEqual([{ name: 'side', at: 0 }]);
    expect(stops).toEqual([
      { name: 'main', at: 0, grace: 30 },
      { name: 'side', at: 3, grace: 27 },
    ]);
  });

  it('killContainers - the wait never outlasts the grace: an app container that ignores SIGTERM holds the sidecars to the end, which then get 2 s', async () => {
    const { kill, stops } = setup({ main: 60_000 });
    await kill(podOf([sidecar('side')], [c('main')]), 10);
    expect(stops).toEqual([
      { name: 'main', at: 0, grace: 10 },
      { name: 'side', at: 10, grace: 2 },
    ]);
  });

  it('killContainers - no grace (a forced delete): nothing waits, every container gets the minimum 2 s at once', async () => {
    const { kill, stops } = setup({ main: 1000 });
    await kill(podOf([sidecar('side')], [c('main')]), 0);
    expect(stops).toEqual([
      { name: 'side', at: 0, grace: 2 },
      { name: 'main', at: 0, grace: 2 },
    ]);
  });

  it('killContainers - app containers that no longer run are not waited for', async () => {
    const { kill, stops } = setup({});
    await kill(podOf([sidecar('side')], [c('done'), c('main')]), 30, ['side', 'main']);
    expect(stops).toEqual([
      { name: 'main', at: 0, grace: 30 },
      { name: 'side', at: 0, grace: 30 },
    ]);
  });
});
