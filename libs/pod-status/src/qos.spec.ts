import type { V1Container, V1Pod, V1ResourceRequirements } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { computePodQOS, type PodQOSClass, podQOSClass } from './qos';

// Port of TestComputePodQOS in pkg/apis/core/v1/helper/qos/qos_test.go (v1.36),
// named after each case's pod name.

type ResourceList = Record<string, string>;
const getResourceList = (cpu: string, memory: string): ResourceList => ({
  ...(cpu ? { cpu } : {}),
  ...(memory ? { memory } : {}),
});
const addResource = (name: string, value: string, rl: ResourceList): ResourceList => ({ ...rl, [name]: value });
const getResourceRequirements = (requests: ResourceList, limits: ResourceList): V1ResourceRequirements => ({ requests, limits });
const newContainer = (name: string, requests: ResourceList, limits: ResourceList): V1Container => ({
  name,
  resources: getResourceRequirements(requests, limits),
});
const newPod = (name: string, containers: V1Container[]): V1Pod => ({ metadata: { name }, spec: { containers } });
const newPodWithResources = (name: string, containers: V1Container[], resources: V1ResourceRequirements): V1Pod => ({
  metadata: { name },
  spec: { containers, resources },
});
const newPodWithInitContainers = (name: string, containers: V1Container[], initContainers: V1Container[]): V1Pod => ({
  metadata: { name },
  spec: { containers, initContainers },
});

type Case = [pod: V1Pod, expected: PodQOSClass, podLevelResourcesEnabled: boolean];
const cases: Case[] = [
  [newPod('guaranteed', [newContainer('guaranteed', getResourceList('100m', '100Mi'), getResourceList('100m', '100Mi'))]), 'Guaranteed', false],
  [
    newPod('guaranteed-guaranteed', [
      newContainer('guaranteed', getResourceList('100m', '100Mi'), getResourceList('100m', '100Mi')),
      newContainer('guaranteed', getResourceList('100m', '100Mi'), getResourceList('100m', '100Mi')),
    ]),
    'Guaranteed',
    false,
  ],
  [
    newPod('best-effort-best-effort', [
      newContainer('best-effort', getResourceList('', ''), getResourceList('', '')),
      newContainer('best-effort', getResourceList('', ''), getResourceList('', '')),
    ]),
    'BestEffort',
    false,
  ],
  [newPod('best-effort', [newContainer('best-effort', getResourceList('', ''), getResourceList('', ''))]), 'BestEffort', false],
  [
    newPod('best-effort-burstable', [
      newContainer('best-effort', getResourceList('', ''), getResourceList('', '')),
      newContainer('burstable', getResourceList('1', ''), getResourceList('2', '')),
    ]),
    'Burstable',
    false,
  ],
  [
    newPod('best-effort-guaranteed', [
      newContainer('best-effort', getResourceList('', ''), getResourceList('', '')),
      newContainer('guaranteed', getResourceList('10m', '100Mi'), getResourceList('10m', '100Mi')),
    ]),
    'Burstable',
    false,
  ],
  [
    newPod('burstable-cpu-guaranteed-memory', [newContainer('burstable', getResourceList('', '100Mi'), getResourceList('', '100Mi'))]),
    'Burstable',
    false,
  ],
  [newPod('burstable-no-limits', [newContainer('burstable', getResourceList('100m', '100Mi'), getResourceList('', ''))]), 'Burstable', false],
  [
    newPod('burstable-guaranteed', [
      newContainer('burstable', getResourceList('1', '100Mi'), getResourceList('2', '100Mi')),
      newContainer('guaranteed', getResourceList('100m', '100Mi'), getResourceList('100m', '100Mi')),
    ]),
    'Burstable',
    false,
  ],
  [
    newPod('burstable-unbounded-but-requests-match-limits', [
      newContainer('burstable', getResourceList('100m', '100Mi'), getResourceList('200m', '200Mi')),
      newContainer('burstable-unbounded', getResourceList('100m', '100Mi'), getResourceList('', '')),
    ]),
    'Burstable',
    false,
  ],
  [newPod('burstable-1', [newContainer('burstable', getResourceList('10m', '100Mi'), getResourceList('100m', '200Mi'))]), 'Burstable', false],
  [newPod('burstable-2', [newContainer('burstable', getResourceList('0', '0'), getResourceList('100m', '200Mi'))]), 'Burstable', false],
  [
    newPod('best-effort-hugepages', [
      newContainer(
        'best-effort',
        addResource('hugepages-2Mi', '1Gi', getResourceList('0', '0')),
        addResource('hugepages-2Mi', '1Gi', getResourceList('0', '0')),
      ),
    ]),
    'BestEffort',
    false,
  ],
  [
    newPodWithInitContainers(
      'init-container',
      [newContainer('best-effort', getResourceList('', ''), getResourceList('', ''))],
      [newContainer('burstable', getResourceList('10m', '100Mi'), getResourceList('100m', '200Mi'))],
    ),
    'Burstable',
    false,
  ],
  [
    newPodWithResources(
      'guaranteed-with-pod-level-resources',
      [newContainer('best-effort', getResourceList('', ''), getResourceList('', ''))],
      getResourceRequirements(getResourceList('10m', '100Mi'), getResourceList('10m', '100Mi')),
    ),
    'Guaranteed',
    true,
  ],
  [
    newPodWithResources(
      'guaranteed-with-pod-and-container-level-resources',
      [newContainer('burstable', getResourceList('3m', '10Mi'), getResourceList('5m', '20Mi'))],
      getResourceRequirements(getResourceList('10m', '100Mi'), getResourceList('10m', '100Mi')),
    ),
    'Guaranteed',
    true,
  ],
  [
    newPodWithResources(
      'burstable-with-pod-level-resources',
      [newContainer('best-effort', getResourceList('', ''), getResourceList('', ''))],
      getResourceRequirements(getResourceList('10m', '10Mi'), getResourceList('20m', '50Mi')),
    ),
    'Burstable',
    true,
  ],
  [
    newPodWithResources(
      'burstable-with-pod-and-container-level-resources',
      [newContainer('burstable', getResourceList('5m', '10Mi'), getResourceList('5m', '10Mi'))],
      getResourceRequirements(getResourceList('10m', '10Mi'), getResourceList('20m', '50Mi')),
    ),
    'Burstable',
    true,
  ],
  [
    newPodWithResources(
      'burstable-with-pod-and-container-level-requests',
      [newContainer('burstable', getResourceList('5m', '10Mi'), getResourceList('', ''))],
      getResourceRequirements(getResourceList('10m', '10Mi'), getResourceList('', '')),
    ),
    'Burstable',
    true,
  ],
  [
    newPodWithResources(
      'burstable-with-pod-and-container-level-resources-2',
      [
        newContainer('burstable', getResourceList('5m', '10Mi'), getResourceList('', '')),
        newContainer('guaranteed', getResourceList('5m', '10Mi'), getResourceList('5m', '10Mi')),
      ],
      getResourceRequirements(getResourceList('10m', '10Mi'), getResourceList('5m', '')),
    ),
    'Burstable',
    true,
  ],
];

describe('TestComputePodQOS', () => {
  it.each(cases.map(([pod, expected, gate]) => [pod.metadata?.name ?? '', pod, expected, gate] as const))(
    'computePodQOS - %s',
    (_name, pod, expected, podLevelResources) => {
      expect(computePodQOS(pod, { podLevelResources })).toBe(expected);
    },
  );
});

describe('qos (port)', () => {
  it('podQOSClass - returns status.qosClass once the pod has one', () => {
    const pod = newPod('g', [newContainer('c', getResourceList('1', '1Gi'), getResourceList('1', '1Gi'))]);
    expect(podQOSClass(pod)).toBe('Guaranteed');
    expect(podQOSClass({ ...pod, status: { qosClass: 'BestEffort' } })).toBe('BestEffort');
  });

  it('computePodQOS - a missing request defaults to its limit, as the API server does', () => {
    expect(computePodQOS(newPod('limits-only', [newContainer('c', {}, getResourceList('500m', '1Gi'))]))).toBe('Guaranteed');
  });

  it('computePodQOS - compares quantities by value, not spelling', () => {
    const pod = newPod('spelling', [newContainer('c', getResourceList('0.5', '1024Mi'), getResourceList('500m', '1Gi'))]);
    expect(computePodQOS(pod)).toBe('Guaranteed');
  });

  it('computePodQOS - ignores pod-level resources when PodLevelResources is off', () => {
    const pod = newPodWithResources(
      'gate-off',
      [newContainer('best-effort', {}, {})],
      getResourceRequirements(getResourceList('10m', '100Mi'), getResourceList('10m', '100Mi')),
    );
    expect(computePodQOS(pod, { podLevelResources: false })).toBe('BestEffort');
    expect(computePodQOS(pod)).toBe('Guaranteed');
  });
});
