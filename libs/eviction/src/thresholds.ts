import { parseQuantity } from '@splitlet/quantity';

export type Signal = 'memory.available' | 'allocatableMemory.available' | 'nodefs.available' | 'nodefs.inodesFree' | 'imagefs.available' | 'imagefs.inodesFree' | 'pid.available';

/** An amount of a signal: an absolute quantity, or a fraction of the signal's capacity. */
export interface ThresholdValue {
  /** An absolute quantity in base units (bytes, inodes, pids)... */
  quantity?: bigint;
  /** ...how the kubelet prints it (the format its suffix gave: "100Mi", "500M")... */
  format?: 'BinarySI' | 'DecimalSI';
  /** ...or a fraction of capacity, as the kubelet keeps it (a float32). */
  percentage?: number;
}

/** An eviction threshold, e.g. memory.available<100Mi or nodefs.available<10%. */
export interface Threshold extends ThresholdValue {
  signal: Signal;
  /** A soft threshold's grace period (--eviction-soft-grace-period); 0 or unset: a hard threshold. */
  gracePeriodMs?: number;
  /** --eviction-minimum-reclaim: once acted on, the threshold holds until this much more is available. */
  minReclaim?: ThresholdValue;
}

const SIGNALS = new Set<Signal>(['memory.available', 'allocatableMemory.available', 'nodefs.available', 'nodefs.inodesFree', 'imagefs.available', 'imagefs.inodesFree', 'pid.available']);

/** The kubelet's default --eviction-hard on Linux (pkg/kubelet/eviction/defaults_linux.go). */
export const DEFAULT_EVICTION_HARD = 'memory.available<100Mi,nodefs.available<10%,nodefs.inodesFree<5%,imagefs.available<15%,imagefs.inodesFree<5%';

const statements = (text: string) =>
  text
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);

function signalOf(name: string, spec: string, what = 'eviction setting'): Signal {
  if (!SIGNALS.has(name as Signal)) throw new Error(`${what} ${JSON.stringify(spec)}: unsupported eviction signal ${name}, expected one of ${[...SIGNALS].join(', ')}`);
  return name as Signal;
}

function quantityValue(value: string): ThresholdValue {
  return { quantity: parseQuantity(value) / 1000n, format: /[KMGTPE]i$/.test(value) ? 'BinarySI' : 'DecimalSI' };
}

/**
 * Parses the kubelet's --eviction-hard / --eviction-soft form (parseThresholdStatement):
 * `<signal><<quantity|percent>` joined by commas. "0%" and "100%" set no threshold; a
 * quantity must be positive.
 */
export function parseThresholds(text: string): Threshold[] {
  const out: Threshold[] = [];
  for (const spec of statements(text)) {
    const m = /^([a-z.A-Z]+)<(.+)$/.exec(spec);
    if (!m) throw new Error(`eviction threshold ${JSON.stringify(spec)}: expected <signal><<quantity|percent>, signal one of ${[...SIGNALS].join(', ')}`);
    const signal = signalOf(m[1] ?? '', spec, 'eviction threshold');
    const value = m[2] ?? '';
    if (value.endsWith('%')) {
      if (value === '0%' || value === '100%') continue;
      const pct = Number(value.slice(0, -1));
      if (!(pct >= 0 && pct <= 100)) throw new Error(`eviction threshold ${JSON.stringify(spec)}: percentage must be between 0% and 100%`);
      out.push({ signal, percentage: Math.fround(pct / 100) });
      continue;
    }
    const q = quantityValue(value);
    if ((q.quantity ?? 0n) <= 0n) throw new Error(`eviction threshold ${JSON.stringify(spec)}: must be positive`);
    out.push({ signal, ...q });
  }
  return out;
}

/** `<signal>=<value>` statements joined by commas (--eviction-soft-grace-period, --eviction-minimum-reclaim). */
function parseSignalMap<T>(text: string, value: (v: string, spec: string) => T): Map<Signal, T> {
  const out = new Map<Signal, T>();
  for (const spec of statements(text)) {
    const m = /^([a-z.A-Z]+)=(.+)$/.exec(spec);
    if (!m) throw new Error(`eviction setting ${JSON.stringify(spec)}: expected <signal>=<value>`);
    out.set(signalOf(m[1] ?? '', spec), value(m[2] ?? '', spec));
  }
  return out;
}

const GO_DURATION_UNITS: Record<string, number> = { ns: 1e-6, us: 1e-3, 'µs': 1e-3, 'μs': 1e-3, ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/**
 * Go's time.ParseDuration, as the kubelet reads its duration flags ("1m30s", "90s",
 * "1.5h", "0"), in milliseconds. Strict on purpose: duration packages on npm also take
 * forms ("1 hour", "2d") the kubelet refuses.
 */
export function parseGoDuration(text: string): number {
  const s = text.trim();
  const sign = s.startsWith('-') ? -1 : 1;
  const body = s.replace(/^[-+]/, '');
  if (body === '0') return 0;
  if (!/^(?:(?:\d+\.?\d*|\.\d+)(?:ns|us|µs|μs|ms|s|m|h))+$/.test(body)) throw new Error(`time: invalid duration ${JSON.stringify(text)}`);
  let ms = 0;
  for (const [, n, unit] of body.matchAll(/(\d+\.?\d*|\.\d+)(ns|us|µs|μs|ms|s|m|h)/g)) ms += Number(n) * (GO_DURATION_UNITS[unit ?? ''] ?? 0);
  return sign * ms;
}

/** A duration of seconds as Go prints it (time.Duration's String: `1m30s`, `500ms`, `0s`). */
export function goDuration(seconds: number): string {
  if (seconds === 0) return '0s';
  if (seconds < 0) return `-${goDuration(-seconds)}`;
  if (seconds < 1) return `${+(seconds * 1000).toFixed(3)}ms`;
  const h = Math.floor(seconds / 3600);
  const m = Math.floor((seconds % 3600) / 60);
  const s = +(seconds % 60).toFixed(9);
  return `${h ? `${h}h` : ''}${h || m ? `${m}m` : ''}${s}s`;
}

/** --eviction-soft-grace-period: `memory.available=1m30s`, in milliseconds. */
export function parseGracePeriods(text: string): Map<Signal, number> {
  return parseSignalMap(text, (v, spec) => {
    const ms = parseGoDuration(v);
    if (ms < 0) throw new Error(`eviction setting ${JSON.stringify(spec)}: invalid eviction grace period specified: ${v}, must be a positive value`);
    return ms;
  });
}

/** --eviction-minimum-reclaim: `memory.available=0Mi,nodefs.available=500Mi` or a positive percent. */
export function parseMinimumReclaims(text: string): Map<Signal, ThresholdValue> {
  return parseSignalMap(text, (v, spec): ThresholdValue => {
    if (v.endsWith('%')) {
      const pct = Number(v.slice(0, -1));
      if (!(pct > 0 && pct <= 100)) throw new Error(`eviction setting ${JSON.stringify(spec)}: eviction percentage minimum reclaim must be positive`);
      return { percentage: Math.fround(pct / 100) };
    }
    const q = quantityValue(v);
    if ((q.quantity ?? 0n) < 0n) throw new Error(`eviction setting ${JSON.stringify(spec)}: negative eviction minimum reclaim specified`);
    return q;
  });
}

/** The kubelet's eviction settings, as SPLITLET_EVICTION_* variables. */
export interface EvictionSettings {
  hard: Threshold[];
  soft: Threshold[];
  softGracePeriods: Map<Signal, number>;
  minimumReclaims: Map<Signal, ThresholdValue>;
  /** --enforce-node-allocatable (the kubelet's default: `pods`; none when unset here): with `pods`, memory.available's hard thresholds hold for allocatableMemory.available too. */
  enforceNodeAllocatable?: readonly string[];
}

/** The kubelet's default --enforce-node-allocatable. */
export const DEFAULT_ENFORCE_NODE_ALLOCATABLE = 'pods';

/**
 * --enforce-node-allocatable: a comma-separated list of `pods`, `system-reserved`,
 * `kube-reserved` (and their `-compressible` forms), or `none` alone (the kubelet's validation).
 */
export function parseEnforceNodeAllocatable(text: string): string[] {
  const keys = statements(text);
  const valid = ['pods', 'system-reserved', 'kube-reserved', 'system-reserved-compressible', 'kube-reserved-compressible', 'none'];
  for (const k of keys) if (!valid.includes(k)) throw new Error(`invalid option ${JSON.stringify(k)} specified for EnforceNodeAllocatable setting. Valid options are "pods", "system-reserved", "kube-reserved", "system-reserved-compressible", "kube-reserved-compressible" or "none"`);
  if (keys.includes('none') && keys.length > 1) throw new Error('invalid configuration: EnforceNodeAllocatable (--enforce-node-allocatable) may not contain additional enforcements when "none" is specified');
  return keys;
}

/**
 * addAllocatableThresholds: each hard memory.available threshold again, for
 * allocatableMemory.available (same value and minimum reclaim), after the others.
 */
export function addAllocatableThresholds(thresholds: readonly Threshold[]): Threshold[] {
  const extra = thresholds
    .filter((t) => t.signal === 'memory.available' && isHardThreshold(t))
    .map((t): Threshold => ({ signal: 'allocatableMemory.available', ...valueOf(t), ...(t.minReclaim ? { minReclaim: t.minReclaim } : {}) }));
  return [...thresholds, ...extra];
}

const valueOf = (t: ThresholdValue): ThresholdValue => ({
  ...(t.quantity !== undefined ? { quantity: t.quantity } : {}),
  ...(t.format !== undefined ? { format: t.format } : {}),
  ...(t.percentage !== undefined ? { percentage: t.percentage } : {}),
});

/**
 * ParseThresholdConfig: the hard thresholds, then the soft ones with their grace
 * periods (a soft threshold without one is refused, in the kubelet's words), each
 * with its signal's minimum reclaim; with `pods` enforced, the allocatable ones.
 */
export function evictionThresholds(s: EvictionSettings): Threshold[] {
  const soft = s.soft.map((t) => {
    const gracePeriodMs = s.softGracePeriods.get(t.signal);
    if (gracePeriodMs === undefined) throw new Error(`grace period must be specified for the soft eviction threshold ${t.signal}`);
    return { ...t, gracePeriodMs };
  });
  const all = [...s.hard, ...soft].map((t) => {
    const minReclaim = s.minimumReclaims.get(t.signal);
    return minReclaim ? { ...t, minReclaim } : t;
  });
  return (s.enforceNodeAllocatable ?? []).includes('pods') ? addAllocatableThresholds(all) : all;
}

export const isHardThreshold = (t: Threshold): boolean => !t.gracePeriodMs;

/** A threshold (or a minimum reclaim) as an amount of the signal's unit, given its capacity. */
export function thresholdAmount(v: ThresholdValue, capacity: bigint): bigint {
  if (v.quantity !== undefined) return v.quantity;
  // The kubelet multiplies float64(capacity) by float64(float32 percentage) and truncates.
  return BigInt(Math.trunc(Number(capacity) * (v.percentage ?? 0)));
}
