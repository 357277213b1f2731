import { loadYaml, type V1Pod } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { PodUpdateFilter, podsDifferSemantically } from './pod-changes';

/** A pod as a watch event carries it: the API's JSON, not deserialized. */
const raw = (over: { labels?: Record<string, string>; resourceVersion?: string; status?: object; gates?: string[]; deletionTimestamp?: string } = {}) =>
  JSON.parse(
    JSON.stringify({
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'web', namespace: 'ns', uid: 'u1', resourceVersion: over.resourceVersion ?? '1', labels: over.labels ?? { app: 'web' }, ...(over.deletionTimestamp ? { deletionTimestamp: over.deletionTimestamp, deletionGracePeriodSeconds: 30 } : {}) },
      spec: {
        nodeName: 'n1',
        containers: [{ name: 'app', image: 'busybox', command: ['sh', '-c', 'sleep 1'], resources: { limits: { cpu: '100m' } } }],
        ...(over.gates ? { readinessGates: over.gates.map((conditionType) => ({ conditionType })) } : {}),
      },
      status: over.status ?? { phase: 'Pending' },
    }),
  ) as V1Pod;

/** The same pod as a list returns it: client-node's classes, Dates, undefined members. */
const listed = (p: V1Pod) => loadYaml<V1Pod>(JSON.stringify(p));

describe('pod-sync pod updates', () => {
  it('podsDifferSemantically - a listed and a watched copy of one pod are the same; spec, labels and deletion differ', () => {
    const p = raw({ deletionTimestamp: '2026-01-01T00:00:00Z' });
    expect(listed(p).metadata?.deletionTimestamp).toBeInstanceOf(Date);
    expect(podsDifferSemantically(listed(p), p)).toBe(false);
    expect(podsDifferSemantically(raw(), raw({ status: { phase: 'Running', conditions: [{ type: 'Ready', status: 'True' }] }, resourceVersion: '2' }))).toBe(false);
    expect(podsDifferSemantically(raw(), raw({ labels: { app: 'web', tier: 'x' } }))).toBe(true);
    expect(podsDifferSemantically(raw(), raw({ deletionTimestamp: '2026-01-01T00:00:00Z' }))).toBe(true);
    const image = raw();
    image.spec!.containers[0]!.image = 'busybox:2';
    expect(podsDifferSemantically(raw(), image)).toBe(true);
  });

  it('PodUpdateFilter - a new pod and a spec change sync; the node\'s own status write coming back does not; a readiness gate\'s condition does', () => {
    const f = new PodUpdateFilter();
    expect(f.shouldSync(listed(raw()))).toBe(true);
    expect(f.shouldSync(raw({ resourceVersion: '2', status: { phase: 'Running', startTime: '2026-01-01T00:00:00Z' } }))).toBe(false);
    expect(f.shouldSync(raw({ resourceVersion: '3', labels: { app: 'other' } }))).toBe(true);
    const g = new PodUpdateFilter();
    g.shouldSync(raw({ gates: ['example.com/lb'] }));
    expect(g.shouldSync(raw({ gates: ['example.com/lb'], resourceVersion: '2', status: { phase: 'Running', conditions: [{ type: 'Ready', status: 'False' }] } }))).toBe(false);
    expect(g.shouldSync(raw({ gates: ['example.com/lb'], resourceVersion: '3', status: { phase: 'Running', conditions: [{ type: 'Ready', status: 'False' }, { type: 'example.com/lb', status: 'True' }] } }))).toBe(true);
    g.forget('u1');
    expect(g.shouldSync(raw({ gates: ['example.com/lb'], resourceVersion: '4' }))).toBe(true);
  });
});
