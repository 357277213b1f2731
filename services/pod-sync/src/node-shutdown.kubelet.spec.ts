import { describe, expect, it } from 'vitest';
import type { V1Pod } from '@kubernetes/client-node';
import { groupByPriority, migrateConfig } from './node-shutdown';

// pkg/kubelet/nodeshutdown/nodeshutdown_manager_test.go (v1.36.3), Test_migrateConfig and
// Test_groupByPriority, case for case.
const DEFAULT = 0; // scheduling.DefaultPriorityWhenNoDefaultClassExists
const HIGHEST_USER_DEFINABLE = 1_000_000_000;
const SYSTEM_CRITICAL = 2_000_000_000;
const makePod = (name: string, priority: number): V1Pod => ({ metadata: { name, uid: name }, spec: { containers: [], priority } });
const names = (pods: V1Pod[]) => pods.map((p) => p.metadata!.name);

describe('kubelet nodeshutdown tables', () => {
  it.each([
    ['both shutdownGracePeriodRequested and shutdownGracePeriodCriticalPods', 300, 120, [{ priority: DEFAULT, shutdownGracePeriodSeconds: 180 }, { priority: SYSTEM_CRITICAL, shutdownGracePeriodSeconds: 120 }]],
    ['only shutdownGracePeriodRequested', 100, 0, [{ priority: DEFAULT, shutdownGracePeriodSeconds: 100 }, { priority: SYSTEM_CRITICAL, shutdownGracePeriodSeconds: 0 }]],
    ['empty configuration', 0, 0, []],
    ['wrong configuration', 1, 100, []],
  ])('Test_migrateConfig - %s', (_name, requested, critical, want) => {
    expect(migrateConfig(requested, critical)).toEqual(want);
  });

  it('Test_groupByPriority - migrate config', () => {
    const groups = groupByPriority(migrateConfig(300, 120), [makePod('normal-pod', DEFAULT), makePod('highest-user-definable-pod', HIGHEST_USER_DEFINABLE), makePod('critical-pod', SYSTEM_CRITICAL)]);
    expect(groups.map((g) => [g.priority, g.shutdownGracePeriodSeconds, names(g.pods)])).toEqual([
      [DEFAULT, 180, ['normal-pod', 'highest-user-definable-pod']],
      [SYSTEM_CRITICAL, 120, ['critical-pod']],
    ]);
  });

  it('Test_groupByPriority - pod priority', () => {
    const periods = [1, 2, 3, 4].map((p) => ({ priority: p, shutdownGracePeriodSeconds: p * 10 }));
    const groups = groupByPriority(periods, [0, 1, 2, 3, 4, 5].map((p) => makePod(`pod-${p}`, p)));
    expect(groups.map((g) => [g.priority, g.shutdownGracePeriodSeconds, names(g.pods)])).toEqual([
      [1, 10, ['pod-0', 'pod-1']],
      [2, 20, ['pod-2']],
      [3, 30, ['pod-3']],
      [4, 40, ['pod-4', 'pod-5']],
    ]);
  });
});
