import { describe, expect, it } from 'vitest';
import { loadConfig } from '@splitlet/config';
import { configSchema } from './config';

const load = (env: Record<string, string>) => loadConfig(configSchema, { SPLITLET_NODE_NAME: 'node-a', ...env });

describe('registrar config', () => {
  it('config - node labels: allowed keys pass, NodeRestriction-forbidden keys are refused with the reason', () => {
    expect(load({ SPLITLET_NODE_LABELS: 'example.com/tier=edge,node.kubernetes.io/pool=a,topology.kubernetes.io/zone=z1' }).SPLITLET_NODE_LABELS).toEqual({
      'example.com/tier': 'edge',
      'node.kubernetes.io/pool': 'a',
      'topology.kubernetes.io/zone': 'z1',
    });
    expect(() => load({ SPLITLET_NODE_LABELS: 'node-role.kubernetes.io/worker=' })).toThrow(
      /SPLITLET_NODE_LABELS: label key "node-role.kubernetes.io\/worker" is refused by NodeRestriction/,
    );
    expect(() => load({ SPLITLET_NODE_LABELS: 'node-restriction.kubernetes.io/x=y' })).toThrow(/reserved for labels set by administrators/);
    expect(() => load({ SPLITLET_NODE_LABELS: 'bad key=1' })).toThrow(/label key "bad key" is invalid/);
  });

  it('config - taints to register with', () => {
    expect(load({ SPLITLET_REGISTER_WITH_TAINTS: 'dedicated=splitlet:NoSchedule,gpu:NoExecute' }).SPLITLET_REGISTER_WITH_TAINTS).toEqual([
      { key: 'dedicated', value: 'splitlet', effect: 'NoSchedule' },
      { key: 'gpu', effect: 'NoExecute' },
    ]);
    expect(() => load({ SPLITLET_REGISTER_WITH_TAINTS: 'x=y:Sometimes' })).toThrow(/SPLITLET_REGISTER_WITH_TAINTS: taint "x=y:Sometimes"/);
  });

  it('config - eviction thresholds and reservations', () => {
    const cfg = load({ SPLITLET_EVICTION_HARD: 'memory.available<1Gi,nodefs.available<5%', SPLITLET_SYSTEM_RESERVED: 'cpu=100m' });
    expect(cfg.SPLITLET_EVICTION_HARD).toEqual([
      { signal: 'memory.available', quantity: 1024n ** 3n, format: 'BinarySI' },
      { signal: 'nodefs.available', percentage: Math.fround(0.05) },
    ]);
    expect(cfg.SPLITLET_SYSTEM_RESERVED).toEqual({ cpu: 100n });
    expect(() => load({ SPLITLET_EVICTION_HARD: 'memory.free<1Gi' })).toThrow(/SPLITLET_EVICTION_HARD: eviction threshold "memory.free<1Gi"/);
  });

  it('config - soft thresholds need their grace periods (the kubelet refuses to start without); the transition period is a Go duration', () => {
    expect(() => load({ SPLITLET_EVICTION_SOFT: 'memory.available<1Gi' })).toThrow('SPLITLET_EVICTION_SOFT_GRACE_PERIOD: grace period must be specified for the soft eviction threshold memory.available');
    const cfg = load({ SPLITLET_EVICTION_SOFT: 'memory.available<1Gi', SPLITLET_EVICTION_SOFT_GRACE_PERIOD: 'memory.available=1m30s', SPLITLET_EVICTION_PRESSURE_TRANSITION_PERIOD: '30s' });
    expect(cfg.SPLITLET_EVICTION_SOFT_GRACE_PERIOD.get('memory.available')).toBe(90_000);
    expect(cfg.SPLITLET_EVICTION_PRESSURE_TRANSITION_PERIOD).toBe(30_000);
    expect(load({}).SPLITLET_EVICTION_PRESSURE_TRANSITION_PERIOD).toBe(300_000);
    expect(() => load({ SPLITLET_EVICTION_PRESSURE_TRANSITION_PERIOD: '30' })).toThrow('SPLITLET_EVICTION_PRESSURE_TRANSITION_PERIOD: time: invalid duration "30"');
  });
});
