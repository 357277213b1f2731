import type { V1Pod } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { containerEnv, expand, expandCommand } from './env';

describe('pod-sync env', () => {
  const vars: Record<string, string> = { VAR_A: 'A', VAR_B: 'B', VAR_EMPTY: '' };
  const lookup = (n: string) => vars[n];

  // Cases after third_party/forked/golang/expansion/expand_test.go
  it.each([
    ['whole string', '$(VAR_A)', 'A'],
    ['repeat', '$(VAR_A)-$(VAR_A)', 'A-A'],
    ['beginning', '$(VAR_A)-1', 'A-1'],
    ['middle', '___$(VAR_B)___', '___B___'],
    ['end', '___$(VAR_A)', '___A'],
    ['empty var', 'foo$(VAR_EMPTY)bar', 'foobar'],
    ['undefined var', 'foo$(UNDEFINED)bar', 'foo$(UNDEFINED)bar'],
    ['escaped', '$$(VAR_A)', '$(VAR_A)'],
    ['escape then var', '$$$(VAR_A)', '$A'],
    ['unterminated', '$(VAR_A', '$(VAR_A'],
    ['empty reference', '$()', '$()'],
    ['lone dollar at the end', 'foo$', 'foo$'],
    ['dollar then letter', '$VAR_A', '$VAR_A'],
  ])('expand - %s', (_name, input, want) => {
    expect(expand(input, lookup)).toBe(want);
  });

  const pod: V1Pod = {
    metadata: { name: 'web', namespace: 'ns', uid: 'u-1', labels: { app: 'web', tier: 'front' }, annotations: { note: 'x' } },
    spec: {
      nodeName: 'node-a',
      serviceAccountName: 'sa',
      containers: [
        {
          name: 'app',
          resources: { requests: { cpu: '250m', memory: '64Mi' }, limits: { memory: '128Mi' } },
          env: [
            { name: 'A', value: 'one' },
            { name: 'B', value: '$(A)-two' },
            { name: 'C', value: '$(D)' }, // D is defined later: not expanded
            { name: 'D', value: 'four' },
            { name: 'POD', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
            { name: 'NS', valueFrom: { fieldRef: { fieldPath: 'metadata.namespace' } } },
            { name: 'UID', valueFrom: { fieldRef: { fieldPath: 'metadata.uid' } } },
            { name: 'APP', valueFrom: { fieldRef: { fieldPath: "metadata.labels['app']" } } },
            { name: 'LABELS', valueFrom: { fieldRef: { fieldPath: 'metadata.labels' } } },
            { name: 'NODE', valueFrom: { fieldRef: { fieldPath: 'spec.nodeName' } } },
            { name: 'SA', valueFrom: { fieldRef: { fieldPath: 'spec.serviceAccountName' } } },
            { name: 'IP', valueFrom: { fieldRef: { fieldPath: 'status.podIP' } } },
            { name: 'HOST', valueFrom: { fieldRef: { fieldPath: 'status.hostIP' } } },
            { name: 'CPU_M', valueFrom: { resourceFieldRef: { resource: 'requests.cpu', divisor: '1m' } } },
            { name: 'MEM_MI', valueFrom: { resourceFieldRef: { resource: 'limits.memory', divisor: '1Mi' } } },
            { name: 'CPU', valueFrom: { resourceFieldRef: { resource: 'requests.cpu' } } },
            // The API server stores an unset divisor as "0": it means 1.
            { name: 'CPU_0', valueFrom: { resourceFieldRef: { resource: 'requests.cpu', divisor: '0' } } },
            { name: 'MEM_0', valueFrom: { resourceFieldRef: { resource: 'requests.memory', divisor: '0' } } },
            // No cpu limit: the node's allocatable.
            { name: 'CPU_LIMIT', valueFrom: { resourceFieldRef: { resource: 'limits.cpu', divisor: '0' } } },
          ],
        },
      ],
    },
  };

  it('containerEnv - values in order with $(VAR) against earlier ones, downward API fields and resources', () => {
    const env = Object.fromEntries(containerEnv(pod, pod.spec!.containers[0]!, { podIP: '10.0.0.5', hostIP: '192.0.2.2', nodeName: 'node-a', allocatable: { cpu: '4', memory: '8Gi' } }).map((e) => [e.key, e.value]));
    expect(env).toEqual({
      A: 'one',
      B: 'one-two',
      C: '$(D)',
      D: 'four',
      POD: 'web',
      NS: 'ns',
      UID: 'u-1',
      APP: 'web',
      LABELS: 'app="web"\ntier="front"',
      NODE: 'node-a',
      SA: 'sa',
      IP: '10.0.0.5',
      HOST: '192.0.2.2',
      CPU_M: '250',
      MEM_MI: '128',
      CPU: '1', // 250m rounded up to whole cores
      CPU_0: '1',
      MEM_0: '67108864',
      CPU_LIMIT: '4',
    });
  });

  it('containerEnv - a resourceFieldRef before the Node is known is a CreateContainerConfigError, as the kubelet\'s', () => {
    expect(() => containerEnv(pod, pod.spec!.containers[0]!, { podIP: '', hostIP: '', nodeName: 'node-a' })).toThrow('failed to find node object, expected a node');
  });

  it('containerEnv - service variables: after the container\'s own, which win; $(VAR) sees them', () => {
    const c = { name: 'app', env: [{ name: 'URL', value: 'https://$(KUBERNETES_SERVICE_HOST):$(KUBERNETES_SERVICE_PORT)' }, { name: 'DB_SERVICE_HOST', value: 'mine' }] };
    const services = new Map([
      ['KUBERNETES_SERVICE_HOST', '10.96.0.1'],
      ['KUBERNETES_SERVICE_PORT', '443'],
      ['DB_SERVICE_HOST', '10.96.0.7'],
    ]);
    const env = containerEnv(pod, c, { podIP: '', hostIP: '', nodeName: 'n' }, { configMaps: new Map(), secrets: new Map(), services });
    expect(env).toEqual([
      { key: 'URL', value: 'https://10.96.0.1:443' },
      { key: 'DB_SERVICE_HOST', value: 'mine' },
      { key: 'KUBERNETES_SERVICE_HOST', value: '10.96.0.1' },
      { key: 'KUBERNETES_SERVICE_PORT', value: '443' },
    ]);
  });

  it('expandCommand - command and args see the container env', () => {
    expect(expandCommand(['echo', '$(A)', '$$(A)', '$(NOPE)'], [{ key: 'A', value: 'x' }])).toEqual(['echo', 'x', '$(A)', '$(NOPE)']);
  });
});
