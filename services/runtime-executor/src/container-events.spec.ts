import { describe, expect, it } from 'vitest';
import { ContainerEventType } from '@splitlet/contracts';
import { toContainerEvent, type DockerEvent } from './container-events';

const labels = {
  'splitlet.node': 'n1',
  'io.kubernetes.docker.type': 'container',
  'io.kubernetes.sandbox.id': 'sb1',
  'io.kubernetes.pod.uid': 'uid-1',
  'io.kubernetes.pod.name': 'web',
  'io.kubernetes.pod.namespace': 'default',
  'io.kubernetes.container.name': 'app',
};
const event = (action: string, attrs: Record<string, string> = labels): DockerEvent => ({
  Type: 'container',
  Action: action,
  Actor: { ID: 'c1', Attributes: attrs },
  timeNano: 1_700_000_000_123_456_789,
});

describe('runtime-executor container events', () => {
  it('toContainerEvent - Docker die is STOPPED with the exit code and the pod it belongs to', () => {
    expect(toContainerEvent(event('die', { ...labels, exitCode: '137' }), 'n1')).toEqual({
      containerId: 'c1',
      type: ContainerEventType.STOPPED,
      // JSON numbers lose Docker's last nanoseconds; the event time keeps microseconds.
      createdAt: BigInt(1_700_000_000_123_456_789),
      podSandboxId: 'sb1',
      isSandbox: false,
      podUid: 'uid-1',
      podName: 'web',
      podNamespace: 'default',
      containerName: 'app',
      exitCode: 137,
    });
  });

  it('toContainerEvent - create, start and destroy map to CREATED, STARTED, DELETED; a sandbox names itself', () => {
    expect(toContainerEvent(event('create'), 'n1')?.type).toBe(ContainerEventType.CREATED);
    expect(toContainerEvent(event('start'), 'n1')?.type).toBe(ContainerEventType.STARTED);
    expect(toContainerEvent(event('destroy'), 'n1')?.type).toBe(ContainerEventType.DELETED);
    const sandbox = toContainerEvent(event('start', { ...labels, 'io.kubernetes.docker.type': 'podsandbox' }), 'n1');
    expect(sandbox).toMatchObject({ isSandbox: true, podSandboxId: 'c1', containerName: 'POD' });
  });

  it('toContainerEvent - other actions, other nodes\' containers and non-container events are not published', () => {
    expect(toContainerEvent(event('exec_start'), 'n1')).toBeUndefined();
    expect(toContainerEvent(event('start'), 'n2')).toBeUndefined();
    expect(toContainerEvent({ ...event('start'), Type: 'image' }, 'n1')).toBeUndefined();
  });
});
