/**
 * Kubernetes resource quantities (k8s.io/apimachinery resource.Quantity), held as
 * an exact bigint count of milli-units so arithmetic never rounds.
 */
const BINARY: Record<string, bigint> = { Ki: 1n << 10n, Mi: 1n << 20n, Gi: 1n << 30n, Ti: 1n << 40n, Pi: 1n << 50n, Ei: 1n << 60n };
const DECIMAL: Record<string, bigint> = { k: 10n ** 3n, M: 10n ** 6n, G: 10n ** 9n, T: 10n ** 12n, P: 10n ** 15n, E: 10n ** 18n };
const FRACTION: Record<string, bigint> = { n: 10n ** 9n, u: 10n ** 6n, m: 10n ** 3n };

export class QuantityError extends Error {
  override readonly name = 'QuantityError';
}

/** Parses "100Mi", "1.5", "250m", "2Gi", "1e3" into milli-units; throws QuantityError on anything else. */
export function parseQuantity(text: string): bigint {
  const m = /^([+-]?)(\d+)(?:\.(\d+))?(?:([eE][+-]?\d+)|(Ki|Mi|Gi|Ti|Pi|Ei|n|u|m|k|M|G|T|P|E))?$/.exec(text.trim());
  if (!m) throw new QuantityError(`quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$' (got ${JSON.stringify(text)})`);
  const [, sign = '', whole = '0', frac = '', exp, suffix] = m;
  // value = (whole.frac) * multiplier, in milli-units: scale numerator by 1000.
  let num = BigInt(whole + frac) * 1000n;
  let den = 10n ** BigInt(frac.length);
  if (exp) {
    const e = Number(exp.slice(1));
    if (e >= 0) num *= 10n ** BigInt(e);
    else den *= 10n ** BigInt(-e);
  } else if (suffix) {
    if (suffix in BINARY) num *= BINARY[suffix]!;
    else if (suffix in DECIMAL) num *= DECIMAL[suffix]!;
    else den *= FRACTION[suffix]!;
  }
  // Like the API server, round up to the smallest unit we keep (1m).
  const milli = (num + den - 1n) / den;
  return sign === '-' ? -milli : milli;
}

/** Whole units (bytes, cores, pods) to milli-units. */
export const units = (n: number | bigint): bigint => BigInt(n) * 1000n;

/**
 * Formats milli-units the way the API server prints a quantity of that format:
 * BinarySI with the largest power-of-1024 suffix that divides exactly ("16305692Ki"),
 * DecimalSI with the largest power-of-1000 suffix ("2", "110", "500m").
 */
export function formatQuantity(milli: bigint, format: 'BinarySI' | 'DecimalSI'): string {
  if (milli % 1000n !== 0n) return `${milli}m`;
  const value = milli / 1000n;
  if (value === 0n) return '0';
  const table = format === 'BinarySI' ? BINARY : DECIMAL;
  const suffixes = Object.entries(table).reverse();
  for (const [suffix, factor] of suffixes) {
    if (value % factor === 0n && (value > 0n ? value : -value) >= factor) return `${value / factor}${suffix}`;
  }
  return `${value}`;
}

/** Parses "cpu=100m,memory=1Gi" (the kubelet's --system-reserved form). */
export function parseResourceList(text: string): Record<string, bigint> {
  const out: Record<string, bigint> = {};
  for (const pair of text.split(',').map((s) => s.trim()).filter(Boolean)) {
    const [name, value, ...rest] = pair.split('=');
    if (!name || value === undefined || rest.length) throw new QuantityError(`expected name=quantity, got ${JSON.stringify(pair)}`);
    out[name.trim()] = parseQuantity(value);
  }
  return out;
}
