import { describe, expect, it } from 'vitest';
import { splitRecorded, type RunInfo } from './report';
import type { ScenarioResult } from './result';
import { summaryTable } from './table';

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
});
