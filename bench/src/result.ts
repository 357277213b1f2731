import { summarize, type Summary } from './stats';

/** A goal from the issues: the statistic must not exceed max (in the figure's unit). */
export interface Goal {
  stat: 'p50' | 'p90' | 'p99' | 'max' | 'value';
  max: number;
  /** Where the goal comes from, e.g. "#4". */
  source: string;
}

/** One measured figure: a distribution (summary) or a single value, or n/a with the reason. */
export interface Figure {
  id: string;
  title: string;
  unit: 'ms' | 's' | 'MiB' | 'MiB/s' | '% of a core' | '%' | 'requests' | 'CPU-s';
  summary?: Summary;
  value?: number;
  goals?: Goal[];
  /** For each goal, whether the figure meets it (absent when n/a). */
  met?: boolean[];
  /** Why there is no figure. */
  na?: string;
  /** What the figure does and does not include. */
  note?: string;
  /** Samples left out and why (e.g. pods that never ran within the timeout). */
  failures?: number;
  samples?: number[];
}

export interface ScenarioResult {
  scenario: string;
  title: string;
  figures: Figure[];
  notes: string[];
  /** Scenario-specific tables (footprint per service, request counts). */
  details?: Record<string, unknown>;
  /** The scenario could not finish (its figures are missing). */
  error?: string;
  startedAt: string;
  durationMs: number;
}

/** Marks each goal of a figure as met or not. */
export function judge(f: Figure): Figure {
  if (f.na || !f.goals) return f;
  const met = f.goals.map((g) => {
    const v = g.stat === 'value' ? f.value : f.summary?.[g.stat];
    return v !== undefined && Number.isFinite(v) && v <= g.max;
  });
  return { ...f, met };
}

/** A latency figure from samples in ms. */
export function latencyFigure(id: string, title: string, samples: number[], extra: Partial<Figure> = {}): Figure {
  return judge({ id, title, unit: 'ms', summary: summarize(samples), samples: samples.map((s) => Math.round(s)), ...extra });
}
