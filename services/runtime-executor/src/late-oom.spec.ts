import { PassThrough } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { jetstream } from '@nats-io/jetstream';
import { fromBinary } from '@bufbuild/protobuf';
import { containerEventsSubject, createRpcClient, eventsStreamName } from '@splitlet/bus';
import { ContainerEventSchema, ContainerEventType, ContainerState, RuntimeService, type ContainerEvent } from '@splitlet/contracts';
import { runAll } from '@splitlet/service';
import { startServiceHarness, type ServiceHarness } from '@splitlet/testing';
import { ContainerEventPublisher } from './container-events';
import type { DockerApi } from './docker';
import { OomKills } from './oom-kills';
import { RuntimeServer } from './runtime-server';
import { RT } from './tokens';

const ID = 'c0ffee'.padEnd(64, '0');

/**
 * Docker 20.10 when containerd's OOM notice comes after the exit: the container says
 * exitCode 137 and OOMKilled false for good, and its "oom" event follows its "die".
 */
class LateOomDocker {
  readonly events = new PassThrough();
  OOMKilled = false;
  readonly labels: Record<string, string> = {
    'splitlet.node': 'test-node',
    'io.kubernetes.docker.type': 'container',
    'io.kubernetes.sandbox.id': 'sb1',
    'io.kubernetes.pod.uid': 'uid-1',
    'io.kubernetes.pod.name': 'oom',
    'io.kubernetes.pod.namespace': 'default',
    'io.kubernetes.container.name': 'app',
  };
  getEvents = (async () => this.events) as unknown as DockerApi['getEvents'];
  getContainer = ((id: string) => ({
    inspect: async () => {
      if (id !== ID) throw Object.assign(new Error('no such container'), { statusCode: 404 });
      return {
        Id: ID,
        Name: '/k8s_app_oom_default_uid-1_0',
        Created: '2026-12-03T10:00:00.000000000Z',
        Image: 'sha256:aaa',
        Config: { Image: 'splitlet-lab/testbox:1', Labels: this.labels },
        State: { Status: 'exited', Running: false, OOMKilled: this.OOMKilled, ExitCode: 137, Error: '', StartedAt: '2026-12-03T10:00:01Z', FinishedAt: '2026-12-03T10:00:02Z' },
        Mounts: [],
      };
    },
  })) as unknown as DockerApi['getContainer'];
  getImage = (() => ({ inspect: async () => ({ Id: 'sha256:aaa', RepoDigests: [] }) })) as unknown as DockerApi['getImage'];
  emit(action: string, attributes: Record<string, string> = {}): void {
    this.events.write(`${JSON.stringify({ Type: 'container', Action: action, Actor: { ID, Attributes: { ...this.labels, ...attributes } }, timeNano: Date.now() * 1e6 })}\n`);
  }
}

describe('runtime-executor OOM kills Docker reports late', () => {
  let h: ServiceHarness;
  let docker: LateOomDocker;
  let abort: AbortController;
  let running: Promise<void>;

  beforeEach(async () => {
    h = await startServiceHarness('runtime-executor');
    docker = new LateOomDocker();
    h.container.registerInstance(RT.Docker, docker as unknown as DockerApi);
    h.container.registerInstance(RT.PauseImage, 'splitlet-lab/pause:1');
    h.container.registerSingleton(OomKills);
    abort = new AbortController();
    running = runAll(h.container.resolve(RuntimeServer), h.container.resolve(ContainerEventPublisher)).run(abort.signal);
    await h.nc.flush();
  });

  afterEach(async () => {
    abort.abort();
    docker.events.end();
    await running;
    await h.close();
  });

  /** The stream's events from its start, read until `enough` says so (or 5 s pass). */
  async function streamed(enough: (seen: ContainerEvent[]) => boolean): Promise<ContainerEvent[]> {
    const seen: ContainerEvent[] = [];
    const deadline = Date.now() + 5000;
    // The stream is there once the publisher has followed Docker's events.
    let consumer;
    while (!consumer && Date.now() < deadline) {
      consumer = await jetstream(h.peer).consumers.get(eventsStreamName(h.nodeName), { filter_subjects: [containerEventsSubject(h.nodeName)] }).catch(() => undefined);
      if (!consumer) await new Promise((r) => setTimeout(r, 50));
    }
    while (consumer && !enough(seen) && Date.now() < deadline) {
      const m = await consumer.next({ expires: 1000 });
      if (m) seen.push(fromBinary(ContainerEventSchema, m.data));
    }
    return seen;
  }

  it('ContainerEventPublisher - an "oom" after the "die": the status says OOMKilled and the stop is published again for pod-sync to re-read', async () => {
    const rt = createRpcClient(h.peer, h.nodeName, RuntimeService, { timeoutMs: 2000 });
    docker.emit('die', { exitCode: '137' });
    const [died] = await streamed((seen) => seen.length >= 1);
    expect(died).toMatchObject({ type: ContainerEventType.STOPPED, exitCode: 137, containerId: ID });
    expect((await rt.containerStatus({ containerId: ID })).status).toMatchObject({ state: ContainerState.EXITED, reason: 'Error', exitCode: 137 });

    docker.emit('oom');
    const events = await streamed((seen) => seen.length >= 2);
    expect(events.map((e) => [e.type, e.exitCode, e.podUid])).toEqual([
      [ContainerEventType.STOPPED, 137, 'uid-1'],
      [ContainerEventType.STOPPED, 137, 'uid-1'],
    ]);
    expect((await rt.containerStatus({ containerId: ID })).status).toMatchObject({ state: ContainerState.EXITED, reason: 'OOMKilled', exitCode: 137 });
  });

  it('ContainerEventPublisher - an "oom" Docker already counted (OOMKilled true) publishes nothing more', async () => {
    docker.OOMKilled = true;
    docker.emit('oom');
    docker.emit('die', { exitCode: '137' });
    docker.emit('destroy');
    const events = await streamed((seen) => seen.some((e) => e.type === ContainerEventType.DELETED));
    expect(events.map((e) => e.type)).toEqual([ContainerEventType.STOPPED, ContainerEventType.DELETED]);
  });
});
