import { parseQuantity } from '@splitlet/quantity';

/** A hard eviction threshold, e.g. memory.available<100Mi or nodefs.available<10%. */
export interface Threshold {
  signal: 'memory.available' | 'nodefs.available' | 'nodefs.inodesFree' | 'imagefs.available' | 'imagefs.inodesFree' | 'pid.available';
  /** An absolute quantity in base units (bytes, inodes, pids)... */
  quantity?: bigint;
  /** ...how the kubelet prints it (the format its suffix gave: "100Mi", "500M")... */
  format?: 'BinarySI' | 'DecimalSI';
  /** ...or a fraction of capacity, as the kubelet keeps it (a float32). */
  percentage?: number;
}

const SIGNALS = new Set<Threshold['signal']>(['memory.available', 'nodefs.available', 'nodefs.inodesFree', 'imagefs.available', 'imagefs.inodesFree', 'pid.available']);

/** The kubelet's default --eviction-hard on Linux (pkg/kubelet/eviction/defaults_linux.go). */
export const DEFAULT_EVICTION_HARD = 'memory.available<100Mi,nodefs.available<10%,nodefs.inodesFree<5%,imagefs.available<15%,imagefs.inodesFree<5%';

/** Parses the kubelet's --eviction-hard form. */
export function parseThresholds(text: string): Threshold[] {
  return text
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)
    .map((spec) => {
      const m = /^([a-z.A-Z]+)<(.+)$/.exec(spec);
      if (!m || !SIGNALS.has(m[1] as Threshold['signal'])) {
        throw new Error(`eviction threshold ${JSON.stringify(spec)}: expected <signal><<quantity|percent>, signal one of ${[...SIGNALS].join(', ')}`);
      }
      const signal = m[1] as Threshold['signal'];
      const value = m[2] ?? '';
      if (value.endsWith('%')) {
        const pct = Number(value.slice(0, -1));
        if (!(pct >= 0 && pct <= 100)) throw new Error(`eviction threshold ${JSON.stringify(spec)}: percentage must be between 0% and 100%`);
        return { signal, percentage: Math.fround(pct / 100) };
      }
      return { signal, quantity: parseQuantity(value) / 1000n, format: /[KMGTPE]i$/.test(value) ? ('BinarySI' as const) : ('DecimalSI' as const) };
    });
}

/** The threshold as an amount of the signal's unit, given its capacity. */
export function thresholdAmount(t: Threshold, capacity: bigint): bigint {
  if (t.quantity !== undefined) return t.quantity;
  // The kubelet multiplies float64(capacity) by float64(float32 percentage) and truncates.
  return BigInt(Math.trunc(Number(capacity) * (t.percentage ?? 0)));
}

/** Is the signal under its threshold (pressure)? undefined when there is no threshold for it. */
export function thresholdMet(thresholds: Threshold[], signal: Threshold['signal'], available: bigint, capacity: bigint): boolean | undefined {
  const t = thresholds.find((x) => x.signal === signal);
  if (!t) return undefined;
  return thresholdAmount(t, capacity) > available;
}
