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

/** A figure's headline numbers: p50 and p99 of a distribution, or its value. */
function headline(f: Figure | undefined): { p50?: number; p99?: number; value?: number } | undefined {
  if (!f || f.na) return undefined;
  if (f.summary) return { p50: f.summary.p50, p99: f.summary.p99 };
  return f.value === undefined || !Number.isFinite(f.value) ? undefined : { value: f.value };
}

const ratio = (a: number | undefined, b: number | undefined): string =>
  a === undefined || b === undefined || !Number.isFinite(a) || !Number.isFinite(b) || b === 0 ? 'n/a' : `${(a / b).toFixed(2)}`;

/**
 * splitlet beside the upstream kubelet (issue 18): each figure both nodes measured, the
 * two values and the ratio splitlet / kubelet (below 1: splitlet is faster or smaller).
 * Distributions compare at p50 and at p99.
 */
export function comparisonTable(info: RunInfo, results: ScenarioResult[], refInfo: RunInfo, refResults: ScenarioResult[]): string {
  const lines = [
    `splitlet: ${runLine(info)}`,
    '',
    `kubelet: ${runLine(refInfo)}`,
    '',
    '| figure | splitlet | kubelet | splitlet / kubelet |',
    '|---|---|---|---|',
  ];
  const refFigures = new Map(refResults.flatMap((r) => r.figures.map((f) => [f.id, f] as const)));
  for (const r of results) {
    if (!refResults.some((x) => x.scenario === r.scenario)) continue;
    for (const f of r.figures) {
      const g = refFigures.get(f.id);
      const a = headline(f);
      const b = headline(g);
      if (!a && !b) continue;
      const show = (h: typeof a) => (!h ? 'n/a' : h.value !== undefined ? fmt(h.value, f.unit) : `p50 ${fmt(h.p50!, f.unit)} · p99 ${fmt(h.p99!, f.unit)}`);
      const rt = a?.value !== undefined || b?.value !== undefined ? ratio(a?.value, b?.value) : `p50 ${ratio(a?.p50, b?.p50)} · p99 ${ratio(a?.p99, b?.p99)}`;
      const title = f.title.replace('all five services', 'the agent').replace(' + Docker', ' + its runtime');
      lines.push(`| ${title} | ${show(a)} | ${show(b)} | ${rt} |`);
    }
  }
  const failed = [...results, ...refResults].filter((r) => r.error);
  for (const r of failed) lines.push('', `${refResults.includes(r) ? 'kubelet' : 'splitlet'}: ${r.title} failed: ${r.error}`);
  return `${lines.join('\n')}\n`;
}
