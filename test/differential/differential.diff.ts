import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { V1Pod } from '@kubernetes/client-node';
import { labEnv, podTestNames, startPodTestNode, waitFor, workspaceRoot, type PodTestNode } from '@splitlet/testing';
import { ACCEPTED } from './accepted';
import { CORPUS, type Case } from './corpus';
import { diff, eventsSnapshot, statusSnapshot, type Difference, type Names } from './snapshot';

// The differential test (issue 18): every pod of the corpus runs on a splitlet node
// and on the reference node (the upstream kubelet on containerd, `npm run lab:up --
// --reference`) at the same time; once it settles, its status and Events are compared
// field by field. A difference not in accepted.ts fails its case. The table of every
// difference is printed and written to results/last-run.md.
const lab = labEnv();
const referenceNode = process.env['LAB_REFERENCE_NODE_NAME'] ?? `ref-${lab.nodeName}`;
const names = { nodeName: podTestNames('diff').nodeName, namespace: podTestNames('diffns').namespace };
const TOLERATE_REFERENCE = [{ key: 'splitlet.dev/reference', operator: 'Exists', effect: 'NoSchedule' }];
/** How long a status must stay unchanged to count as settled (a terminal pod's is written more than once). */
const STABLE_MS = 3_000;
/** What both nodes may still record after the pod settled (Events are written behind the status). */
const EVENTS_LAG_MS = 2_000;

interface Outcome {
  case: Case;
  differences: (Difference & { accepted?: string })[];
}
const outcomes: Outcome[] = [];

const acceptedFor = (name: string, d: Difference): string | undefined =>
  ACCEPTED.find((a) => (!a.case || a.case === name) && (a.field.startsWith('/') ? new RegExp(a.field.slice(1, a.field.lastIndexOf('/'))).test(d.field) : a.field === d.field))?.reason;

describe('differential: splitlet and the reference kubelet', () => {
  let node: PodTestNode;

  beforeAll(async () => {
    node = await startPodTestNode(names, { prober: true, nodeApi: true, env: { SPLITLET_POD_RESYNC_MS: '60000' } });
    const ref = await node.core.readNode({ name: referenceNode }).catch(() => undefined);
    if (!ref?.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True')) {
      throw new Error(`the reference node ${referenceNode} is not Ready: start it with \`npm run lab:up -- --reference\``);
    }
  });
  afterAll(async () => {
    await node?.stop();
    await report();
  });

  const podOf = (k: Case, suffix: 's' | 'r', nodeName: string): V1Pod => ({
    metadata: { name: `${k.name}-${suffix}`, namespace: names.namespace },
    spec: { ...structuredClone(k.spec), nodeName, ...(suffix === 'r' ? { tolerations: TOLERATE_REFERENCE } : {}) },
  });

  /** Waits until the pod's status meets settle (or the checkpoint), then until it stays unchanged for STABLE_MS. */
  async function settled(k: Case, name: string, createdAt: number): Promise<V1Pod> {
    const read = () => node.core.readNamespacedPod({ namespace: names.namespace, name });
    const settle = k.settle;
    if (settle.kind === 'checkpoint') {
      await new Promise((r) => setTimeout(r, Math.max(0, createdAt + settle.afterMs - Date.now())));
      return read();
    }
    const done = settle.kind === 'terminal'
      ? (p: V1Pod) => p.status?.phase === 'Succeeded' || p.status?.phase === 'Failed'
      : (p: V1Pod) => p.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false;
    let last = await waitFor(`${name} to settle (${settle.kind})`, async () => {
      const p = await read();
      return done(p) ? p : undefined;
    }, 120_000, 250);
    for (let since = Date.now(); Date.now() - since < STABLE_MS; ) {
      await new Promise((r) => setTimeout(r, 500));
      const p = await read();
      if (p.metadata?.resourceVersion !== last.metadata?.resourceVersion) {
        last = p;
        since = Date.now();
      }
    }
    return last;
  }

  async function snapshot(k: Case, pod: V1Pod, nodeName: string) {
    const n: Names = { pod: pod.metadata!.name!, node: nodeName };
    const events = await node.core.listNamespacedEvent({ namespace: names.namespace, fieldSelector: `involvedObject.uid=${pod.metadata!.uid}` });
    return { ...statusSnapshot(pod, n), ...eventsSnapshot(events.items, n) };
  }

  for (const k of CORPUS) {
    it.concurrent(`${k.name} - ${k.what}`, async () => {
      const createdAt = Date.now();
      await Promise.all([
        node.core.createNamespacedPod({ namespace: names.namespace, body: podOf(k, 's', names.nodeName) }),
        node.core.createNamespacedPod({ namespace: names.namespace, body: podOf(k, 'r', referenceNode) }),
      ]);
      const [s, r] = await Promise.all([settled(k, `${k.name}-s`, createdAt), settled(k, `${k.name}-r`, createdAt)]);
      await new Promise((res) => setTimeout(res, EVENTS_LAG_MS));
      const differences = diff(await snapshot(k, s, names.nodeName), await snapshot(k, r, referenceNode)).map((d) => ({ ...d, accepted: acceptedFor(k.name, d) }));
      outcomes.push({ case: k, differences });
      await Promise.all([`${k.name}-s`, `${k.name}-r`].map((name) => node.core.deleteNamespacedPod({ namespace: names.namespace, name, gracePeriodSeconds: 0 }).catch(() => undefined)));
      expect(differences.filter((d) => !d.accepted).map(({ field, splitlet, reference }) => ({ field, splitlet, reference }))).toEqual([]);
    });
  }
});

const cell = (s: string) => s.replaceAll('|', '\\|').replaceAll('\n', ' ');

async function report(): Promise<void> {
  const lines = [
    `# Differential run: splitlet against the reference kubelet`,
    '',
    `${new Date().toISOString()}; ${outcomes.length} of ${CORPUS.length} cases ran; ${outcomes.filter((o) => o.differences.every((d) => d.accepted)).length} without an unaccepted difference.`,
    '',
    '| case | field | splitlet | reference kubelet | accepted because |',
    '|---|---|---|---|---|',
  ];
  for (const o of [...outcomes].sort((a, b) => a.case.name.localeCompare(b.case.name))) {
    if (!o.differences.length) lines.push(`| ${o.case.name} | — | same | same | |`);
    for (const d of o.differences) lines.push(`| ${o.case.name} | ${cell(d.field)} | ${cell(d.splitlet)} | ${cell(d.reference)} | ${cell(d.accepted ?? '**not accepted**')} |`);
  }
  const text = lines.join('\n') + '\n';
  console.log(text);
  await writeFile(join(workspaceRoot(), 'test/differential/results/last-run.md'), text);
}
