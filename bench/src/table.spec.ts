import { describe, expect, it } from 'vitest';
import { splitRecorded, type RunInfo } from './report';
import type { ScenarioResult } from './result';
import { comparisonTable, summaryTable } from './table';

const info = (date: string, commit: string): RunInfo => ({
  date,
  commit,
  nodeName: 'bench-1',
  nodeStartedByHarness: true,
  machine: { cpuModel: 'CPU', cores: 2, memoryGiB: 8, loadAverageAtStart: [0.5, 0.4, 0.3] },
  options: {},
});
const result = (scenario: string, title: string, value: number, unit: 'MiB/s' | 'MiB' = 'MiB/s'): ScenarioResult => ({
  scenario,
  title: scenario,
  figures: [{ id: `${scenario}.x`, title, unit, value }],
  notes: [],
  startedAt: '2026-12-04T03:00:00.000Z',
  durationMs: 1,
});

describe('table', () => {
  it('splitRecorded - a recorded <scenario>.json back into its run and its result', () => {
    const run = { ...info('2026-11-28T13:50:00.000Z', 'abc'), note: 'quiet' };
    const r = result('footprint', 'RSS', 100, 'MiB');
    expect(splitRecorded({ ...run, ...r })).toEqual({ info: run, result: r });
  });

  it('summaryTable - this run first; a scenario not run this time under the line of the run that recorded it', () => {
    const table = summaryTable(
      info('2026-12-04T03:10:00.000Z', 'new'),
      [result('node-api', 'kubectl logs', 4.7)],
      ['latency.svg'],
      [
        { info: info('2026-11-28T13:50:00.000Z', 'old'), result: result('footprint', 'RSS, idle', 644, 'MiB') },
        { info: info('2026-11-28T13:50:00.000Z', 'old'), result: result('nats', 'PING', 0.3) },
      ],
    );
    const lines = table.split('\n');
    expect(lines[0]).toMatch(/^Measured 2026-12-04 03:10 UTC .*commit new/);
    expect(lines).toContain('| kubectl logs | 4.7 MiB/s | — |  |');
    const earlier = lines.findIndex((l) => l.startsWith('Not run this time'));
    expect(lines[earlier]).toMatch(/`footprint.json`, `nats.json`.*Measured 2026-11-28 13:50 UTC .*commit old/);
    expect(earlier).toBeGreaterThan(lines.indexOf('| kubectl logs | 4.7 MiB/s | — |  |'));
    expect(lines.slice(earlier)).toEqual(expect.arrayContaining(['| RSS, idle | 644 MiB | — |  |', '| PING | 0.3 MiB/s | — |  |']));
    expect(lines.filter((l) => l.startsWith('Not run this time'))).toHaveLength(1);
    expect(lines.at(-2)).toBe('Charts: [latency.svg](latency.svg).');
  });

  it('summaryTable - nothing kept: one table, as before', () => {
    const table = summaryTable(info('2026-12-04T03:10:00.000Z', 'new'), [result('node-api', 'kubectl logs', 4.7)], []);
    expect(table.split('\n').filter((l) => l.startsWith('| figure |'))).toHaveLength(1);
    expect(table).not.toContain('Not run this time');
  });

  it('comparisonTable - each figure both nodes measured, with the ratio splitlet / kubelet; p50 and p99 for a distribution; a figure only one side has shows n/a', () => {
    const lat = (p50: number, p99: number): ScenarioResult => ({
      scenario: 'startup',
      title: 'Startup',
      figures: [{ id: 'startup.burst', title: 'Pod startup, 100 at once', unit: 'ms', summary: { count: 100, min: 1, mean: p50, p50, p90: p99, p99, max: p99 } }],
      notes: [],
      startedAt: '2026-12-05T14:00:00.000Z',
      durationMs: 1,
    });
    const s = [lat(800, 2000), { ...result('footprint', 'RSS, all five services, idle', 300, 'MiB'), figures: [{ id: 'footprint.idle.rss', title: 'RSS, all five services, idle', unit: 'MiB' as const, value: 300 }, { id: 'footprint.only', title: 'only splitlet', unit: 'MiB' as const, value: 1 }] }];
    const k = [lat(1000, 4000), { ...result('footprint', 'RSS, the kubelet, idle', 100, 'MiB'), figures: [{ id: 'footprint.idle.rss', title: 'RSS, the kubelet, idle', unit: 'MiB' as const, value: 100 }] }];
    const t = comparisonTable(info('2026-12-05T14:00:00.000Z', 'abc'), s, { ...info('2026-12-05T14:30:00.000Z', 'abc'), nodeName: 'ref-vm', nodeStartedByHarness: false }, k);
    expect(t).toContain('| Pod startup, 100 at once | p50 800 ms · p99 2.00 s | p50 1.00 s · p99 4.00 s | p50 0.80 · p99 0.50 |');
    expect(t).toContain('| RSS, the agent, idle | 300 MiB | 100 MiB | 3.00 |');
    expect(t).toContain('| only splitlet | 1 MiB | n/a | n/a |');
    expect(t).toMatch(/^splitlet: Measured .*node `bench-1`/);
    expect(t).toContain('kubelet: Measured 2026-12-05 14:30 UTC');
  });
});

