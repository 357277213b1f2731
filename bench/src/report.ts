import { readFile, mkdir, writeFile } from 'node:fs/promises';
import { cpus, loadavg, totalmem } from 'node:os';
import { join } from 'node:path';
import * as vega from 'vega';
import { compile, type TopLevelSpec } from 'vega-lite';
import { runCommand } from '@splitlet/testing';
import type { ScenarioResult } from './result';
import type { ServiceUsage } from './scenarios/footprint';

export interface RunInfo {
  date: string;
  commit: string;
  nodeName: string;
  nodeStartedByHarness: boolean;
  machine: { cpuModel: string; cores: number; memoryGiB: number; loadAverageAtStart: number[] };
  note?: string;
  options: Record<string, unknown>;
}

export async function runInfo(nodeName: string, ownedByHarness: boolean, options: Record<string, unknown>, note?: string): Promise<RunInfo> {
  const cpuinfo = await readFile('/proc/cpuinfo', 'utf8').catch(() => '');
  const model = /^model name\s*:\s*(.+)$/m.exec(cpuinfo)?.[1] ?? cpus()[0]?.model ?? 'unknown';
  const head = (await runCommand('git', ['rev-parse', '--short=12', 'HEAD'])).stdout.trim();
  const dirty = (await runCommand('git', ['status', '--porcelain', '--untracked-files=no'])).stdout.trim() !== '';
  return {
    date: new Date().toISOString(),
    commit: `${head}${dirty ? '+dirty' : ''}`,
    nodeName,
    nodeStartedByHarness: ownedByHarness,
    machine: { cpuModel: model, cores: cpus().length, memoryGiB: Math.round((totalmem() / 2 ** 30) * 10) / 10, loadAverageAtStart: loadavg().map((l) => Math.round(l * 100) / 100) },
    ...(note ? { note } : {}),
    options,
  };
}

/** Writes <dir>/<scenario>.json for each result and <dir>/latest.json with all of them. */
export async function writeResults(dir: string, info: RunInfo, results: ScenarioResult[]): Promise<string[]> {
  await mkdir(dir, { recursive: true });
  const written: string[] = [];
  for (const r of results) {
    const path = join(dir, `${r.scenario}.json`);
    await writeFile(path, `${JSON.stringify({ ...info, ...r }, null, 2)}\n`);
    written.push(path);
  }
  const latest = join(dir, 'latest.json');
  await writeFile(latest, `${JSON.stringify({ ...info, scenarios: results }, null, 2)}\n`);
  written.push(latest);
  return written;
}

/** A scenario's result recorded by an earlier run in the same directory, with that run's machine, date and commit. */
export interface KeptResult {
  info: RunInfo;
  result: ScenarioResult;
}

/** Splits a recorded `<scenario>.json` (the run's info and the scenario's result side by side) back into the two. */
export function splitRecorded(recorded: RunInfo & ScenarioResult): KeptResult {
  const { date, commit, nodeName, nodeStartedByHarness, machine, note, options, ...result } = recorded;
  return { info: { date, commit, nodeName, nodeStartedByHarness, machine, options, ...(note ? { note } : {}) }, result };
}

/**
 * The results of `scenarios` that this run did not measure but an earlier run left in
 * `dir`, so a run of one scenario (`--only node-api`) rewrites the summary with the
 * others' recorded figures still in it, each under its own run's line.
 */
export async function readKept(dir: string, scenarios: readonly string[], measured: ScenarioResult[]): Promise<KeptResult[]> {
  const kept: KeptResult[] = [];
  for (const s of scenarios) {
    if (measured.some((r) => r.scenario === s)) continue;
    const text = await readFile(join(dir, `${s}.json`), 'utf8').catch(() => undefined);
    if (text === undefined) continue;
    kept.push(splitRecorded(JSON.parse(text) as RunInfo & ScenarioResult));
  }
  return kept;
}

/** vega-lite → SVG, headless. */
export async function renderSvg(spec: TopLevelSpec): Promise<string> {
  const view = new vega.View(vega.parse(compile(spec).spec), { renderer: 'none' });
  return view.toSVG();
}

/** p50 and p99 of every latency figure, log scale, with the issues' goals as red ticks. */
export function latencySpec(info: RunInfo, results: ScenarioResult[], keptFromEarlierRuns = false): TopLevelSpec | undefined {
  const bars: { figure: string; stat: string; ms: number }[] = [];
  const goals: { figure: string; stat: string; ms: number }[] = [];
  for (const f of results.flatMap((r) => r.figures)) {
    if (f.unit !== 'ms' || f.na || !f.summary) continue;
    const label = f.id;
    for (const stat of ['p50', 'p99'] as const) {
      bars.push({ figure: label, stat, ms: Math.max(0.01, f.summary[stat]) });
      const g = f.goals?.find((x) => x.stat === stat);
      if (g) goals.push({ figure: label, stat, ms: g.max });
    }
  }
  if (!bars.length) return undefined;
  // A log scale needs a domain above 0: from the power of ten below the smallest value.
  const domainMin = 10 ** Math.floor(Math.log10(Math.min(...bars.map((b) => b.ms), ...goals.map((g) => g.ms))));
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title: {
      text: 'splitlet latencies (p50, p99) — goals as red ticks',
      subtitle: `${info.date.slice(0, 16)}Z · ${info.machine.cpuModel} · ${info.machine.cores} cores · commit ${info.commit}${keptFromEarlierRuns ? ' · some from earlier runs (summary.md)' : ''}`,
    },
    width: 520,
    height: { step: 14 },
    layer: [
      {
        data: { values: bars },
        mark: 'bar',
        encoding: {
          y: { field: 'figure', type: 'nominal', title: null, sort: null },
          yOffset: { field: 'stat' },
          x: { field: 'ms', type: 'quantitative', scale: { type: 'log', domainMin }, title: 'ms (log scale)' },
          x2: { datum: domainMin },
          color: { field: 'stat', type: 'nominal', title: null },
        },
      },
      ...(goals.length ? [{
        data: { values: goals },
        mark: { type: 'tick', color: '#d62728', thickness: 2 },
        encoding: {
          y: { field: 'figure', type: 'nominal', sort: null },
          yOffset: { field: 'stat' },
          x: { field: 'ms', type: 'quantitative' },
        },
      }] : []),
    ],
  } as TopLevelSpec;
}

/** RSS and CPU of each service, idle and loaded. */
export function footprintSpec(info: RunInfo, result: ScenarioResult): TopLevelSpec | undefined {
  const d = result.details as { idle?: ServiceUsage[]; loaded?: ServiceUsage[]; podsRunning?: number } | undefined;
  if (!d?.idle?.length) return undefined;
  const rows = [
    ...d.idle.map((u) => ({ ...u, state: 'idle' })),
    ...(d.loaded ?? []).map((u) => ({ ...u, state: `${d.podsRunning ?? '?'} pods` })),
  ];
  const panel = (field: 'rssMiB' | 'cpuPercent', title: string) => ({
    width: 240,
    height: { step: 12 },
    mark: 'bar' as const,
    encoding: {
      y: { field: 'service', type: 'nominal' as const, title: null },
      yOffset: { field: 'state' },
      x: { field, type: 'quantitative' as const, title },
      color: { field: 'state', type: 'nominal' as const, title: null },
    },
  });
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title: { text: 'splitlet footprint per service', subtitle: `${info.date.slice(0, 16)}Z · ${info.machine.cpuModel} · ${info.machine.cores} cores · commit ${info.commit}` },
    data: { values: rows },
    hconcat: [panel('rssMiB', 'RSS (MiB)'), panel('cpuPercent', 'CPU (% of a core)')],
  } as TopLevelSpec;
}
