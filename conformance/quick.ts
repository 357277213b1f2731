// The quick conformance subset (issue 23): conformance/quick.txt names upstream specs,
// one full text per line. This turns the list into ginkgo's --focus and checks a run's
// summary.json against it: every listed spec ran exactly once and passed, and nothing
// else ran.
//   tsx conformance/quick.ts focus <quick.txt>    prints the --focus regular expression
import { readFileSync } from 'node:fs';

/** The specs a quick.txt names: its lines less blanks and `#` comments. */
export function readQuickList(text: string): string[] {
  return text
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('#'));
}

/** Escapes a literal for Go's regexp (RE2), which ginkgo's --focus compiles: only
 * punctuation may be escaped there (`\ ` is an error), so not a JavaScript escaper. */
export function goRegexpEscape(s: string): string {
  return s.replace(/[\\.+*?()|[\]{}^$]/g, (c) => `\\${c}`);
}

/** The description upstream's suite runs under (test/e2e/e2e.go's RunSpecs). */
export const SUITE_DESCRIPTION = 'Kubernetes e2e suite';

/** ginkgo matches --focus against "<suite description> <spec full text>": anchored at
 * both ends, a listed text selects that spec and no other. */
export function focusRegex(specs: string[]): string {
  if (specs.length === 0) throw new Error('the quick list names no spec');
  return `^${goRegexpEscape(SUITE_DESCRIPTION)} (?:${specs.map(goRegexpEscape).join('|')})$`;
}

export interface SpecOutcome {
  name: string;
  verdict: string;
  cause?: string;
}

export interface QuickCheck {
  passed: number;
  /** Listed, but no spec of that text ran (renamed upstream, or the focus missed it). */
  missing: string[];
  /** Listed and ran, but did not pass: the spec and its one-line cause. */
  failed: string[];
  /** Ran, but not listed: the focus selected more than the list. */
  extra: string[];
}

/** A run's specs (summary.json's `specs`, the label filter's left-outs excluded) against the list. */
export function checkQuick(specs: string[], ran: SpecOutcome[]): QuickCheck {
  const listed = new Set(specs);
  const check: QuickCheck = { passed: 0, missing: [], failed: [], extra: [] };
  for (const spec of specs) {
    const runs = ran.filter((r) => r.name === spec);
    if (runs.length === 0) check.missing.push(spec);
    else if (runs.length === 1 && runs[0]!.verdict === 'passed') check.passed++;
    else check.failed.push(`${spec}: ${runs.map((r) => `${r.verdict}${r.cause ? ` (${r.cause})` : ''}`).join('; ')}`);
  }
  check.extra = ran.filter((r) => !listed.has(r.name)).map((r) => `${r.name}: ${r.verdict}`);
  return check;
}

if (process.argv[1]?.endsWith('quick.ts') && process.argv[2] === 'focus') {
  const file = process.argv[3];
  if (!file) {
    console.error('usage: quick.ts focus <quick.txt>');
    process.exit(2);
  }
  process.stdout.write(focusRegex(readQuickList(readFileSync(file, 'utf8'))) + '\n');
}
