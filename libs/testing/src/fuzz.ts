import { create, ScalarType, toBinary, type DescField, type DescMessage } from '@bufbuild/protobuf';

/**
 * A seeded pseudo-random source (mulberry32): the same seed gives the same sequence,
 * so a fuzz run that found something runs again exactly. Not for anything secret.
 */
export class SeededRandom {
  private state: number;

  constructor(readonly seed: number) {
    this.state = seed >>> 0;
  }

  /** In [0, 1). */
  next(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  /** An integer in [lo, hi]. */
  int(lo: number, hi: number): number {
    return lo + Math.floor(this.next() * (hi - lo + 1));
  }

  pick<T>(items: readonly T[]): T {
    return items[this.int(0, items.length - 1)]!;
  }

  bytes(n: number): Uint8Array {
    const out = new Uint8Array(n);
    for (let i = 0; i < n; i++) out[i] = this.int(0, 255);
    return out;
  }
}

/** Strings that have broken parsers and path builders before, mixed in with random ones. */
export const HOSTILE_STRINGS: readonly string[] = [
  '',
  '/',
  '..',
  '../../info',
  '%2F',
  '%2e%2e',
  '?',
  '#',
  '\u0000',
  'A'.repeat(4096),
  'a'.repeat(64),
  '0123456789abcdef'.repeat(4),
  `sha256:${'0123456789abcdef'.repeat(4)}`,
  'busybox',
  'splitlet-lab/pause:1',
  'k8s_POD_x_y_z_0',
  'default',
  '127.0.0.1',
  '💥',
];

const INT64_EDGES = [0n, 1n, -1n, 2n ** 31n, -(2n ** 63n), 2n ** 63n - 1n];
const UINT64_EDGES = [0n, 1n, 2n ** 32n, 2n ** 64n - 1n];
const INT32_EDGES = [0, 1, -1, 2 ** 31 - 1, -(2 ** 31)];

function randomString(r: SeededRandom): string {
  if (r.next() < 0.6) return r.pick(HOSTILE_STRINGS);
  const n = r.int(0, 40);
  let s = '';
  for (let i = 0; i < n; i++) s += String.fromCharCode(r.int(0x20, 0x7e));
  return s;
}

function randomScalar(r: SeededRandom, t: ScalarType): unknown {
  switch (t) {
    case ScalarType.STRING:
      return randomString(r);
    case ScalarType.BYTES:
      return r.bytes(r.int(0, 64));
    case ScalarType.BOOL:
      return r.next() < 0.5;
    case ScalarType.DOUBLE:
    case ScalarType.FLOAT:
      return r.pick([0, -1, 1.5, Number.MAX_VALUE, Number.NaN, Number.POSITIVE_INFINITY]);
    case ScalarType.INT64:
    case ScalarType.SINT64:
    case ScalarType.SFIXED64:
      return r.next() < 0.5 ? r.pick(INT64_EDGES) : BigInt(r.int(-1000, 1_000_000));
    case ScalarType.UINT64:
    case ScalarType.FIXED64:
      return r.next() < 0.5 ? r.pick(UINT64_EDGES) : BigInt(r.int(0, 1_000_000));
    case ScalarType.UINT32:
    case ScalarType.FIXED32:
      return r.next() < 0.5 ? r.pick([0, 1, 2 ** 32 - 1]) : r.int(0, 100_000);
    default:
      return r.next() < 0.5 ? r.pick(INT32_EDGES) : r.int(-1000, 100_000);
  }
}

function randomValue(r: SeededRandom, f: DescField, depth: number): unknown {
  switch (f.fieldKind) {
    case 'scalar':
      return randomScalar(r, f.scalar);
    case 'enum':
      return r.next() < 0.8 ? r.pick(f.enum.values).number : r.int(-5, 100);
    case 'message':
      return randomInit(r, f.message, depth + 1);
    case 'list': {
      const n = depth > 2 ? 0 : r.int(0, 3);
      return Array.from({ length: n }, () =>
        f.listKind === 'scalar' ? randomScalar(r, f.scalar) : f.listKind === 'enum' ? r.pick(f.enum.values).number : randomInit(r, f.message, depth + 1),
      );
    }
    case 'map': {
      const out: Record<string, unknown> = {};
      const n = depth > 2 ? 0 : r.int(0, 3);
      for (let i = 0; i < n; i++) {
        const key = f.mapKey === ScalarType.STRING ? randomString(r) : String(r.int(0, 1000));
        out[key] = f.mapKind === 'scalar' ? randomScalar(r, f.scalar) : f.mapKind === 'enum' ? r.pick(f.enum.values).number : randomInit(r, f.message, depth + 1);
      }
      return out;
    }
  }
}

/** An init object for `create(desc, …)`: each field set or not at random, one case of each oneof. */
function randomInit(r: SeededRandom, desc: DescMessage, depth = 0): Record<string, unknown> {
  const init: Record<string, unknown> = {};
  if (depth > 4) return init;
  for (const f of desc.fields) {
    if (f.oneof || r.next() < 0.3) continue;
    init[f.localName] = randomValue(r, f, depth);
  }
  for (const o of desc.oneofs) {
    if (r.next() < 0.3) continue;
    const f = r.pick(o.fields);
    init[o.localName] = { case: f.localName, value: randomValue(r, f, depth) };
  }
  return init;
}

/** A random message of the type, encoded: every field a random (often hostile) value or unset. */
export function randomMessageBytes(r: SeededRandom, desc: DescMessage): Uint8Array {
  return toBinary(desc, create(desc, randomInit(r, desc)));
}
