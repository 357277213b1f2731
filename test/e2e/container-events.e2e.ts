import { randomBytes, randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type NatsConnection } from '@nats-io/transport-node';
import { jetstream } from '@nats-io/jetstream';
import { fromBinary } from '@bufbuild/protobuf';
import { containerEventsSubject, createRpcClient, eventsStreamName } from '@splitlet/bus';
import { ContainerEventSchema, ContainerEventType, RuntimeService, type ContainerEvent } from '@splitlet/contracts';
import { connectToLabBus, labBusEnv, removeLabNodeCreds, startServiceProcess, type ServiceProcess } from '@splitlet/testing';

// runtime-executor publishes the node's container lifecycle, as Docker reports it,
// to the node's JetStream stream: a consumer reads it in order, from the start.
const nodeName = `e2e-events-${randomBytes(3).toString('hex')}`;

describe('container events', () => {
  let executor: ServiceProcess;
  let nc: NatsConnection;
  beforeAll(async () => {
    executor = startServiceProcess('runtime-executor', { SPLITLET_NODE_NAME: nodeName, ...(await labBusEnv(nodeName, 'runtime-executor')), SPLITLET_PAUSE_IMAGE: 'splitlet-lab/pause:1' });
    // The start budget every e2e file gives a service (testNode, runtime-executor.e2e): with
    // the suite's files in parallel, 10 s was seen to pass before the process logged at all.
    await executor.waitForLog((l) => l['msg'] === 'started', 30_000);
    // As pod-sync: it drives the containers and reads the stream.
    nc = await connectToLabBus(nodeName, 'pod-sync');
  });
  afterAll(async () => {
    executor.kill('SIGTERM');
    await executor.exited;
    await nc?.close();
    await removeLabNodeCreds(nodeName);
  });

  it('ContainerEventPublisher - a container\'s created, started, stopped (exit code) and deleted reach the stream in order', async () => {
    const rt = createRpcClient(nc, nodeName, RuntimeService, { timeoutMs: 30_000 });
    const uid = randomUUID();
    const sandboxConfig = { metadata: { name: 'events', namespace: 'e2e', uid, attempt: 0 }, hostname: 'events' };
    const { podSandboxId } = await rt.runPodSandbox({ config: sandboxConfig });
    const { containerId } = await rt.createContainer({
      podSandboxId,
      sandboxConfig,
      config: { metadata: { name: 'app', attempt: 0 }, image: 'splitlet-lab/testbox:1', command: ['sleep', '3600'] },
    });
    await rt.startContainer({ containerId });
    await rt.stopContainer({ containerId, timeout: 0n });
    await rt.removePodSandbox({ podSandboxId });

    const consumer = await jetstream(nc).consumers.get(eventsStreamName(nodeName), { filter_subjects: [containerEventsSubject(nodeName)] });
    const seen: ContainerEvent[] = [];
    const deadline = Date.now() + 20_000;
    while (Date.now() < deadline && !seen.some((e) => e.containerId === containerId && e.type === ContainerEventType.DELETED)) {
      const m = await consumer.next({ expires: 2000 });
      if (m) seen.push(fromBinary(ContainerEventSchema, m.data));
    }
    const mine = seen.filter((e) => e.containerId === containerId);
    expect(mine.map((e) => e.type)).toEqual([ContainerEventType.CREATED, ContainerEventType.STARTED, ContainerEventType.STOPPED, ContainerEventType.DELETED]);
    expect(mine[2]).toMatchObject({ exitCode: 137, podUid: uid, podName: 'events', podNamespace: 'e2e', containerName: 'app', podSandboxId, isSandbox: false });
    const sandbox = seen.filter((e) => e.containerId === podSandboxId).map((e) => e.type);
    expect(sandbox).toContain(ContainerEventType.STARTED);
    expect(seen.every((e) => e.podUid === uid)).toBe(true);
  });
});
