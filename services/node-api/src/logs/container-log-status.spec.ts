import type { V1ContainerStatus, V1Pod } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { containerLogId, hasContainerSpec } from './container-log-status';

const pod = (status: Partial<V1ContainerStatus>): V1Pod => ({
  metadata: { name: 'web', namespace: 'ns' },
  spec: { containers: [{ name: 'app' }], initContainers: [{ name: 'init' }] },
  status: { containerStatuses: [{ name: 'app', ready: false, restartCount: 0, image: 'i', imageID: '', ...status }] },
});

describe('container log status', () => {
  it('containerLogId - a running container\'s own ID', () => {
    expect(containerLogId(pod({ state: { running: {} }, containerID: 'docker://abc' }), 'app', false)).toEqual({ id: 'abc', uri: 'docker://abc' });
  });

  it('containerLogId - previous: the last terminated instance, else the kubelet\'s refusal', () => {
    const p = pod({ state: { running: {} }, containerID: 'docker://new', lastState: { terminated: { exitCode: 1, containerID: 'docker://old' } } });
    expect(containerLogId(p, 'app', true).id).toBe('old');
    expect(() => containerLogId(pod({ state: { running: {} }, containerID: 'docker://new' }), 'app', true)).toThrow('previous terminated container "app" in pod "web" not found');
  });

  it('containerLogId - a waiting container in the kubelet\'s words', () => {
    expect(() => containerLogId(pod({ state: { waiting: { reason: 'ContainerCreating' } } }), 'app', false)).toThrow('container "app" in pod "web" is waiting to start: ContainerCreating');
    expect(() => containerLogId(pod({ state: { waiting: { reason: 'ErrImagePull' } } }), 'app', false)).toThrow('container "app" in pod "web" is waiting to start: image can\'t be pulled');
    expect(() => containerLogId(pod({ state: { waiting: { reason: 'ImagePullBackOff' } } }), 'app', false)).toThrow('is waiting to start: trying and failing to pull image');
  });

  it('containerLogId - a restarting container (waiting after a crash) shows the last instance', () => {
    const p = pod({ state: { waiting: { reason: 'CrashLoopBackOff' } }, lastState: { terminated: { exitCode: 1, containerID: 'docker://old' } } });
    expect(containerLogId(p, 'app', false).id).toBe('old');
  });

  it('containerLogId - a container with no status yet is not available', () => {
    expect(() => containerLogId(pod({}), 'init', false)).toThrow('container "init" in pod "web" is not available');
  });

  it('hasContainerSpec - knows app and init containers, nothing else', () => {
    expect(hasContainerSpec(pod({}), 'app')).toBe(true);
    expect(hasContainerSpec(pod({}), 'init')).toBe(true);
    expect(hasContainerSpec(pod({}), 'nope')).toBe(false);
  });
});
