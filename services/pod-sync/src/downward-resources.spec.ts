import type { V1Container, V1Pod } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { containerResourceValue, resourceFieldValue } from './downward-resources';

const app: V1Container = { name: 'app', resources: { requests: { cpu: '250m', memory: '100M', 'ephemeral-storage': '1Gi' }, limits: { memory: '128Mi' } } };
const init: V1Container = { name: 'setup', resources: { limits: { cpu: '100m' } } };
const pod: V1Pod = { metadata: { name: 'web', namespace: 'ns' }, spec: { initContainers: [init], containers: [app, { name: 'other' }] } };
const allocatable = { cpu: '4', memory: '16Gi', 'ephemeral-storage': '50Gi', pods: '110' };

describe('pod-sync downward API resources', () => {
  // Cases after pkg/api/v1/resource/helpers_test.go and the kubelet's defaulting.
  it.each([
    ['requests.cpu', '0', '1'], // 250m rounded up to one core
    ['requests.cpu', '1m', '250'],
    ['requests.cpu', '100m', '3'],
    ['requests.memory', '0', '100000000'],
    ['requests.memory', '1Mi', '96'], // 95.37 rounded up
    ['requests.memory', '1k', '100000'],
    ['requests.ephemeral-storage', '1Mi', '1024'],
    ['limits.memory', '1Mi', '128'],
    ['limits.cpu', '0', '4'], // no limit: the node's allocatable
    ['limits.cpu', '1m', '4000'],
    ['limits.ephemeral-storage', '1Gi', '50'],
  ])('resourceFieldValue - %s with divisor %s is %s', (resource, divisor, want) => {
    expect(resourceFieldValue(pod, { resource, divisor }, allocatable, app)).toBe(want);
  });

  it('resourceFieldValue - a named container; with no limits at all every limit is the allocatable', () => {
    expect(resourceFieldValue(pod, { containerName: 'other', resource: 'limits.memory', divisor: '1Gi' }, allocatable)).toBe('16');
    expect(resourceFieldValue(pod, { containerName: 'other', resource: 'requests.cpu', divisor: '1m' }, allocatable)).toBe('0');
    expect(resourceFieldValue(pod, { containerName: 'setup', resource: 'limits.cpu', divisor: '1m' }, allocatable)).toBe('100');
  });

  it('resourceFieldValue - pod-level limits stand in for the allocatable', () => {
    const withPodLimits: V1Pod = { ...pod, spec: { ...pod.spec!, resources: { limits: { cpu: '2', memory: '1Gi' } } } };
    expect(resourceFieldValue(withPodLimits, { resource: 'limits.cpu', divisor: '0' }, allocatable, app)).toBe('2');
    expect(resourceFieldValue(withPodLimits, { resource: 'limits.memory', divisor: '1Mi' }, allocatable, app)).toBe('128'); // its own limit wins
    expect(resourceFieldValue(withPodLimits, { resource: 'limits.ephemeral-storage', divisor: '1Gi' }, allocatable, app)).toBe('50');
  });

  it('resourceFieldValue - an env var naming an init container reads its own limits only (the kubelet defaults the app containers)', () => {
    const bare: V1Pod = { ...pod, spec: { ...pod.spec!, initContainers: [{ name: 'bare' }] } };
    expect(resourceFieldValue(bare, { containerName: 'bare', resource: 'limits.cpu', divisor: '1m' }, allocatable, app)).toBe('0');
    expect(resourceFieldValue(bare, { containerName: 'bare', resource: 'limits.cpu', divisor: '1m' }, allocatable)).toBe('4000');
  });

  it('resourceFieldValue - errors in the kubelet\'s words: no Node yet, an unknown container, an unsupported resource', () => {
    expect(() => resourceFieldValue(pod, { resource: 'limits.cpu' }, undefined, app)).toThrow('failed to find node object, expected a node');
    expect(() => resourceFieldValue(pod, { containerName: 'nope', resource: 'limits.cpu' }, allocatable)).toThrow('container nope not found');
    expect(() => containerResourceValue({ resource: 'limits.pods' }, app)).toThrow('unsupported container resource : limits.pods');
  });
});
