import { spawn } from 'node:child_process';
import { createWriteStream, readFileSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { labDir, workspaceRoot } from '@splitlet/testing';
import { checkQuick, readQuickList, type SpecOutcome } from './quick.js';

// The quick NodeConformance subset inside `npm test` (issue 23): upstream's own specs
// (conformance/quick.txt) run by `conformance/run.sh --quick` against a fresh splitlet
// node on the lab, as `npm run conformance` runs them all. Vitest runs this project
// after the e2e project (groupOrder), so its node and ginkgo's two processes do not
// share the machine with the e2e files.
const root = workspaceRoot();
const list = readQuickList(readFileSync(join(root, 'conformance', 'quick.txt'), 'utf8'));

describe('upstream NodeConformance, quick subset', () => {
  it(
    `every spec of conformance/quick.txt (${list.length}) passes on a splitlet node`,
    async () => {
      const results = join(labDir(), 'conformance-quick');
      await mkdir(labDir(), { recursive: true });
      const log = join(labDir(), 'conformance-quick.log');
      const out = createWriteStream(log);
      // On a new machine the e2e binaries' first build may still be running (scripts/test.sh
      // starts it in the background); build.sh waits for it, and its time counts here.
      const child = spawn('bash', [join(root, 'conformance', 'run.sh'), '--quick'], {
        cwd: root,
        env: { ...process.env, CONFORMANCE_RESULTS: results },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      child.stdout.pipe(out, { end: false });
      child.stderr.pipe(out, { end: false });
      const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
      out.end();

      let summary: { specs: SpecOutcome[] };
      try {
        summary = JSON.parse(readFileSync(join(results, 'summary.json'), 'utf8')) as { specs: SpecOutcome[] };
      } catch {
        const tail = readFileSync(log, 'utf8').split('\n').slice(-30).join('\n');
        throw new Error(`conformance/run.sh --quick wrote no summary (exit ${code}); the end of ${log}:\n${tail}`);
      }
      const check = checkQuick(list, summary.specs);
      // The upstream spec's own failure line says what a user would see go wrong; the
      // services' logs are in <results>/logs.
      expect(check.failed, `failed specs (logs: ${results}/logs)`).toEqual([]);
      expect(check.missing, 'listed specs that did not run').toEqual([]);
      expect(check.extra, 'specs that ran but are not listed').toEqual([]);
      expect(check.passed).toBe(list.length);
      expect(code, `run.sh exit (log: ${log})`).toBe(0);
    },
    // Ceiling, not the expected time (~2.5 min warm): on a new machine the wait for the
    // e2e binaries' first build is in it.
    75 * 60_000,
  );
});
