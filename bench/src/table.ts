import type { KeptResult, RunInfo } from './report';
import type { Figure, Goal, ScenarioResult } from './result';

const fmt = (v: number, unit: string): string => {
  if (!Number.isFinite(v)) return 'n/a';
  if (unit === 'ms') return v >= 1000 ? `${(v / 1000).toFixed(2)} s` : `${v < 10 ? v.toFixed(1) : Math.round(v)} ms`;
  if (unit === 's') return `${v} s`;
  if (unit === '% of a core') return `${v} %`;
  return `${v} ${unit}`;
};

const goalText = (g: Goal, unit: string) => `${g.stat === 'value' ? '' : `${g.stat} `}≤ ${fmt(g.max, unit)} (${g.source})`;

function measured(f: Figure): string {
  if (f.na) return `n/a — ${f.na}`;
  if (f.summary) {
    const s = f.summary;
    return `p50 ${fmt(s.p50, f.unit)} · p90 ${fmt(s.p90, f.unit)} · p99 ${fmt(s.p99, f.unit)} (n=${s.count}${f.failures ? `, ${f.failures} left out` : ''})`;
  }
  return fmt(f.value ?? Number.NaN, f.unit);
}

function rows(results: ScenarioResult[]): string[] {
  return results.flatMap((r) =>
    r.error
      ? [`| ${r.title} | failed: ${r.error.replaceAll('|', '\\|').slice(0, 200)} | | |`]
      : r.figures.map((f) => {
          const goals = f.goals?.map((g) => goalText(g, f.unit)).join(', ') ?? '—';
          const met = f.na || !f.met ? '' : f.met.every(Boolean) ? 'yes' : 'no';
          return `| ${f.title} | ${measured(f)} | ${goals} | ${met} |`;
        }),
  );
}

function runLine(info: RunInfo): string {
  const m = info.machine;
  return `Measured ${info.date.slice(0, 16).replace('T', ' ')} UTC on ${m.cpuModel}, ${m.cores} cores, ${m.memoryGiB} GiB (load average at start ${m.loadAverageAtStart.join(' / ')}), commit ${info.commit}, node \`${info.nodeName}\`${info.nodeStartedByHarness ? ' (started by the harness)' : ''}.${info.note ? ` ${info.note}` : ''}`;
}

const HEADER = ['| figure | measured | goal | met |', '|---|---|---|---|'];

/**
 * The performance table as Markdown (what README.md's Performance section shows): this
 * run's figures, then those of scenarios it did not run as earlier runs recorded them
 * in the same directory, one table per earlier run.
 */
export function summaryTable(info: RunInfo, results: ScenarioResult[], charts: string[], kept: KeptResult[] = []): string {
  const earlier = new Map<string, KeptResult[]>();
  for (const k of kept) {
    const key = `${k.info.date} ${k.info.commit}`;
    earlier.set(key, [...(earlier.get(key) ?? []), k]);
  }
  return [
    runLine(info),
    '',
    ...HEADER,
    ...rows(results),
    '',
    ...[...earlier.values()].flatMap((group) => [
      `Not run this time; as recorded earlier (${group.map((k) => `\`${k.result.scenario}.json\``).join(', ')}). ${runLine(group[0]!.info)}`,
      '',
      ...HEADER,
      ...rows(group.map((k) => k.result)),
      '',
    ]),
    ...(charts.length ? [`Charts: ${charts.map((c) => `[${c}](${c})`).join(', ')}.`, ''] : []),
  ].join('\n');
}
