// Reads the e2e framework's JUnit report (junit_01.xml) and writes summary.json and
// summary.md beside it: passed / failed / skipped in all and per SIG, and each
// failure's one-line cause (the first `[FAILED]` line ginkgo wrote for it).
//   tsx conformance/summary.ts <junit_01.xml> <out-dir> [node-name]
// The report also lists every spec the label filter left out, as skipped without a
// reason; those are counted apart ("not selected") so the totals read as the run's.
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

type Verdict = 'passed' | 'failed' | 'skipped' | 'not selected';
interface SpecResult {
  name: string;
  sig: string;
  verdict: Verdict;
  seconds: number;
  cause?: string;
}

const [junitPath, outDir, nodeName] = process.argv.slice(2);
if (!junitPath || !outDir) {
  console.error('usage: summary.ts <junit_01.xml> <out-dir> [node-name]');
  process.exit(2);
}

function unescapeXml(s: string): string {
  return s
    .replace(/&#x([0-9a-fA-F]+);/g, (_, h: string) => String.fromCodePoint(parseInt(h, 16)))
    .replace(/&#(\d+);/g, (_, d: string) => String.fromCodePoint(parseInt(d, 10)))
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&quot;/g, '"')
    .replace(/&apos;/g, "'")
    .replace(/&amp;/g, '&');
}

function attr(tag: string, name: string): string | undefined {
  const m = new RegExp(`\\s${name}="([^"]*)"`).exec(tag);
  return m?.[1] === undefined ? undefined : unescapeXml(m[1]);
}

/** The first line of ginkgo's failure text that says what went wrong. */
function oneLineCause(text: string): string {
  const lines = text.split('\n').map((l) => l.trim());
  const i = lines.findIndex((l) => l.startsWith('[FAILED]') || l.startsWith('[PANICKED]') || l.startsWith('[TIMEDOUT]'));
  let cause = i >= 0 ? lines[i]!.replace(/^\[(FAILED|PANICKED|TIMEDOUT)\]\s*/, '') : (lines.find(Boolean) ?? '');
  // "Expected <x> to equal <y>" and timeouts put the substance on the next lines.
  if (i >= 0 && cause.length < 60) cause = [cause, ...lines.slice(i + 1, i + 4).filter((l) => l && !l.startsWith('In ['))].join(' ');
  return cause.replace(/\s+/g, ' ').slice(0, 400);
}

const xml = await readFile(junitPath, 'utf8');
const results: SpecResult[] = [];
for (const m of xml.matchAll(/<testcase\b([^>]*?)(\/>|>([\s\S]*?)<\/testcase>)/g)) {
  const open = m[1] ?? '';
  const body = m[3] ?? '';
  const rawName = attr(open, 'name') ?? '';
  // Suite-level nodes (BeforeSuite, ReportAfterSuite) are not specs.
  if (!rawName.startsWith('[It]')) continue;
  const name = rawName.replace(/^\[It\]\s*/, '');
  const sig = /\[(sig-[a-z-]+)\]/.exec(name)?.[1] ?? 'other';
  const status = attr(open, 'status') ?? '';
  const seconds = Number(attr(open, 'time') ?? 0);
  let verdict: Verdict;
  let cause: string | undefined;
  if (status === 'passed') verdict = 'passed';
  else if (status === 'skipped' || status === 'pending') {
    const message = attr(/<skipped\b[^>]*>/.exec(body)?.[0] ?? '', 'message') ?? '';
    // A spec that ran and skipped itself says why ("skipped - <reason>").
    verdict = message.replace(/^skipped\s*-?\s*/, '') ? 'skipped' : 'not selected';
    if (verdict === 'skipped') cause = message.replace(/^skipped\s*-?\s*/, '').replace(/\s+/g, ' ').slice(0, 300);
  } else {
    verdict = 'failed';
    const failure = /<(failure|error)\b[^>]*>([\s\S]*?)<\/\1>/.exec(body);
    cause = oneLineCause(unescapeXml(failure?.[2] ?? status));
  }
  results.push({ name, sig, verdict, seconds, ...(cause ? { cause } : {}) });
}

const ran = results.filter((r) => r.verdict !== 'not selected');
const count = (rs: SpecResult[], v: Verdict) => rs.filter((r) => r.verdict === v).length;
const sigs = [...new Set(ran.map((r) => r.sig))].sort();
const perSig = Object.fromEntries(
  sigs.map((s) => {
    const rs = ran.filter((r) => r.sig === s);
    return [s, { passed: count(rs, 'passed'), failed: count(rs, 'failed'), skipped: count(rs, 'skipped') }];
  }),
);
const totals = { selected: ran.length, passed: count(ran, 'passed'), failed: count(ran, 'failed'), skipped: count(ran, 'skipped') };
const failures = ran.filter((r) => r.verdict === 'failed').sort((a, b) => a.name.localeCompare(b.name));
const skips = ran.filter((r) => r.verdict === 'skipped').sort((a, b) => a.name.localeCompare(b.name));

await writeFile(
  join(outDir, 'summary.json'),
  JSON.stringify({ node: nodeName ?? null, date: new Date().toISOString(), totals, perSig, specs: ran }, null, 2) + '\n',
);

const md = [
  `# NodeConformance results`,
  ``,
  `${new Date().toISOString()}, node \`${nodeName ?? '?'}\`: **${totals.passed} passed, ${totals.failed} failed, ${totals.skipped} skipped** of ${totals.selected} selected specs.`,
  ``,
  `| SIG | passed | failed | skipped |`,
  `|---|---|---|---|`,
  ...sigs.map((s) => `| ${s} | ${perSig[s]!.passed} | ${perSig[s]!.failed} | ${perSig[s]!.skipped} |`),
  ``,
  `## Failures (${failures.length})`,
  ``,
  ...failures.map((f) => `- ${f.name}\n  - ${f.cause ?? ''}`),
  ``,
  `## Skipped by the spec itself (${skips.length})`,
  ``,
  ...skips.map((s) => `- ${s.name}: ${s.cause ?? ''}`),
  ``,
].join('\n');
await writeFile(join(outDir, 'summary.md'), md);
console.log(`[conformance] ${totals.passed} passed, ${totals.failed} failed, ${totals.skipped} skipped of ${totals.selected} (${join(outDir, 'summary.md')})`);
