import { create } from '@bufbuild/protobuf';
import type { V1PodStatus } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { statusv1 } from '@splitlet/contracts';
import { kubeTime, toKubePodStatus, toWirePodStatus } from './wire';

describe('pod-status wire', () => {
  it('toWirePodStatus / toKubePodStatus - a pod status survives the trip through the wire as the API prints it', () => {
    const t = (s: string) => new Date(s);
    const status: V1PodStatus = {
      phase: 'Running',
      conditions: [
        { type: 'Ready', status: 'False', reason: 'ContainersNotReady', message: 'containers with unready status: [app]', lastTransitionTime: t('2026-11-28T12:00:00Z'), observedGeneration: 2 },
      ],
      hostIP: '192.0.2.2',
      hostIPs: [{ ip: '192.0.2.2' }],
      podIP: '172.17.0.4',
      podIPs: [{ ip: '172.17.0.4' }],
      startTime: t('2026-11-28T11:59:58Z'),
      qosClass: 'Burstable',
      initContainerStatuses: [
        { name: 'init', ready: true, restartCount: 0, image: 'busybox', imageID: 'docker://sha256:1', containerID: 'docker://c0', started: false, state: { terminated: { exitCode: 0, reason: 'Completed', startedAt: t('2026-11-28T11:59:59Z'), finishedAt: t('2026-11-28T12:00:00Z'), containerID: 'docker://c0' } }, lastState: {} },
      ],
      containerStatuses: [
        {
          name: 'app',
          ready: false,
          restartCount: 2,
          image: 'busybox',
          imageID: 'docker://sha256:1',
          containerID: 'docker://c2',
          started: false,
          state: { waiting: { reason: 'CrashLoopBackOff', message: 'back-off 20s restarting failed container=app pod=web_ns(u)' } },
          lastState: { terminated: { exitCode: 3, reason: 'Error', startedAt: t('2026-11-28T12:00:01Z'), finishedAt: t('2026-11-28T12:00:02Z'), containerID: 'docker://c2' } },
        },
      ],
      observedGeneration: 2,
    };
    const back = toKubePodStatus(create(statusv1.PodStatusSchema, toWirePodStatus(status)));
    expect(JSON.parse(JSON.stringify(back))).toEqual({
      ...JSON.parse(JSON.stringify(status).replaceAll('.000Z', 'Z')),
      conditions: [{ ...JSON.parse(JSON.stringify(status.conditions![0]).replaceAll('.000Z', 'Z')), lastProbeTime: null }],
    });
  });

  it('toWirePodStatus / toKubePodStatus - volumeMounts and a running container\'s resources survive the trip, resource names in order', () => {
    const status: V1PodStatus = {
      containerStatuses: [
        {
          name: 'app',
          ready: true,
          restartCount: 0,
          image: 'busybox',
          imageID: 'docker://sha256:1',
          state: { running: { startedAt: new Date('2026-11-28T12:00:00Z') } },
          resources: { requests: { memory: '64Mi', cpu: '100m' } as never, limits: { memory: '128Mi' } as never },
          volumeMounts: [
            { name: 'data', mountPath: '/data' },
            { name: 'kube-api-access-x', mountPath: '/var/run/secrets/kubernetes.io/serviceaccount', readOnly: true, recursiveReadOnly: 'Disabled' },
          ],
        },
        { name: 'idle', ready: true, restartCount: 0, image: 'busybox', imageID: '', state: { running: {} }, resources: {} },
      ],
    };
    const back = JSON.parse(JSON.stringify(toKubePodStatus(create(statusv1.PodStatusSchema, toWirePodStatus(status))))) as V1PodStatus;
    const [app, idle] = back.containerStatuses!;
    expect(JSON.stringify(app!.resources)).toBe('{"limits":{"memory":"128Mi"},"requests":{"cpu":"100m","memory":"64Mi"}}');
    expect(app!.volumeMounts).toEqual(status.containerStatuses![0]!.volumeMounts);
    expect(idle!.resources).toEqual({});
    expect(idle!.volumeMounts).toBeUndefined();
  });

  it('kubeTime - second precision as the API prints metav1.Time; nothing for zero', () => {
    expect(kubeTime(1_764_331_200_999_000_000n)).toBe('2025-11-28T12:00:00Z');
    expect(kubeTime(0n)).toBeUndefined();
  });
});
