import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { checkQuick, focusRegex, goRegexpEscape, readQuickList, SUITE_DESCRIPTION } from './quick.js';

const list = readQuickList(readFileSync(join(import.meta.dirname, 'quick.txt'), 'utf8'));
// ginkgo's match string: the suite's description, a space, the spec's full text.
const matched = (focus: string, text: string) => new RegExp(focus).test(`${SUITE_DESCRIPTION} ${text}`);

describe('the quick subset list', () => {
  it('names each spec once, with its labels as ginkgo reports them', () => {
    expect(list.length).toBeGreaterThanOrEqual(50);
    expect(new Set(list).size).toBe(list.length);
    for (const spec of list) expect(spec).toMatch(/^\[sig-[a-z-]+\] .*\[NodeConformance\]/);
  });

  it('selects exactly its specs: not one whose text is a listed text with more after it or before it', () => {
    const focus = focusRegex(list);
    for (const spec of list) expect(matched(focus, spec)).toBe(true);
    const volume = '[sig-storage] ConfigMap should be consumable from pods in volume [NodeConformance] [Conformance]';
    expect(list).toContain(volume);
    // Upstream specs that share a listed spec's words but are not listed.
    expect(matched(focus, '[sig-storage] ConfigMap should be consumable from pods in volume with mappings and Item mode set [LinuxOnly] [NodeConformance] [Conformance]')).toBe(false);
    expect(matched(focus, '[sig-storage] Projected configMap should be consumable from pods in volume [NodeConformance] [Conformance]')).toBe(false);
    expect(matched(focus, `[sig-node] Outer ${volume}`)).toBe(false);
  });

  it("escapes for Go's regexp, whose escapes are punctuation only", () => {
    expect(goRegexpEscape('a (b) [c] *d* $e^ f.g|h? {i} \\ +')).toBe('a \\(b\\) \\[c\\] \\*d\\* \\$e\\^ f\\.g\\|h\\? \\{i\\} \\\\ \\+');
    expect(goRegexpEscape('the kubelet should write entries to /etc/hosts')).toBe('the kubelet should write entries to /etc/hosts');
  });
});

describe('checkQuick', () => {
  const specs = ['[sig-node] A [NodeConformance]', '[sig-node] B [NodeConformance]', '[sig-node] C [NodeConformance]'];
  it('passes only when every listed spec ran once and passed, and nothing else ran', () => {
    expect(
      checkQuick(specs, [
        { name: specs[0]!, verdict: 'passed' },
        { name: specs[1]!, verdict: 'passed' },
        { name: specs[2]!, verdict: 'passed' },
      ]),
    ).toEqual({ passed: 3, missing: [], failed: [], extra: [] });
  });
  it('names what is missing, what failed (with its cause) and what ran unlisted', () => {
    expect(
      checkQuick(specs, [
        { name: specs[0]!, verdict: 'failed', cause: 'timed out waiting for the pod' },
        { name: specs[1]!, verdict: 'skipped', cause: 'no agnhost' },
        { name: '[sig-node] D [NodeConformance]', verdict: 'passed' },
      ]),
    ).toEqual({
      passed: 0,
      missing: [specs[2]],
      failed: [`${specs[0]}: failed (timed out waiting for the pod)`, `${specs[1]}: skipped (no agnhost)`],
      extra: ['[sig-node] D [NodeConformance]: passed'],
    });
  });
});
