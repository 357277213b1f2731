#!/usr/bin/env node
// `nx run contracts:buf-breaking`: checks proto/ for breaking changes against the
// contracts as they were on the base: BUF_BREAKING_AGAINST (a git ref), else the
// merge base with main when on another branch, else the previous commit.
import { execFileSync } from 'node:child_process';

const git = (...args) => execFileSync('git', args, { encoding: 'utf8' }).trim();
const tryGit = (...args) => {
  try {
    return git(...args);
  } catch {
    return '';
  }
};

let base = process.env.BUF_BREAKING_AGAINST ?? '';
if (!base) {
  const branch = tryGit('rev-parse', '--abbrev-ref', 'HEAD');
  base = branch !== 'main' ? tryGit('merge-base', 'HEAD', 'main') : tryGit('rev-parse', '--verify', '-q', 'HEAD~1');
}
if (!base) {
  console.log('buf breaking: no earlier commit to compare against (first commit); nothing to check.');
  process.exit(0);
}
if (!tryGit('ls-tree', '-d', base, 'proto')) {
  console.log(`buf breaking: ${base.slice(0, 12)} has no proto/ yet; nothing to check.`);
  process.exit(0);
}
console.log(`buf breaking: proto/ against ${base.slice(0, 12)}`);
execFileSync('buf', ['breaking', '--against', `.git#ref=${base}`], { stdio: 'inherit' });
