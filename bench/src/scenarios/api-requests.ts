import { request } from 'node:https';
import type { KubeConfig } from '@kubernetes/client-node';
import { allRunning, benchPod, sleep, UNTIL_SIGTERM } from '../kube';
import { withNamespace, type BenchContext } from '../context';
import { judge, type Figure, type ScenarioResult } from '../result';
import { median } from '../stats';
import { attributeNodeRequests, PER_POD_KEYS, WRITE_KEYS } from '../attribution';

export interface ApiRequestsOptions {
  repetitions: number;
  settleMs: number;
  timeoutMs: number;
}

type Counts = Map<string, number>;

const WRITE_VERBS = new Set(['POST', 'PUT', 'PATCH', 'DELETE', 'APPLY']);

/**
 * What the kubelet (v1.36) sends for the same pod, from reading its code:
 * pkg/kubelet/status/status_manager.go syncPod GETs the pod, then patches
 * pods/status only when the merged status differs (statusutil.PatchPodStatus skips
 * an empty patch), and once the pod is terminal and deleted, deletes it with grace
 * 0 and a UID precondition; the event recorder POSTs one Event per reason.
 * Typical for one container of a present image, no probes:
 *   start: the status before the sandbox (Pending, ContainerCreating), then Running
 *   once the PLEG relist (1 s) sees the container → GET pods ×2, PATCH pods/status
 *   ×2; Events Pulled, Created, Started → POST events ×3.
 *   delete (pkg/kubelet/kubelet.go SyncTerminatingPod, SyncTerminatedPod): Killing →
 *   POST events ×1; the status at the start of termination (usually unchanged: GET
 *   only), the stopped containers' status, and the terminal phase with podIsFinished
 *   → GET pods ×3, PATCH pods/status ×2 (1 when the status manager's batch
 *   coalesces the last two), DELETE pods ×1 (grace 0, UID precondition).
 */
export const KUBELET_EXPECTED = {
  start: { 'GET pods': 2, 'PATCH pods/status': 2, 'POST events': 3 },
  delete: { 'POST events': 1, 'GET pods': 3, 'PATCH pods/status': 2, 'DELETE pods': 1 },
  source: 'kubernetes/kubernetes pkg/kubelet/status/status_manager.go (syncPod, canBeDeleted), pkg/util/pod PatchPodStatus, pkg/kubelet/kubelet.go (SyncTerminatingPod, SyncTerminatedPod), the kubelet event recorder',
};

/** What the harness itself sends in each phase (admin user), taken off the counts. */
const HARNESS = { start: { 'POST pods': 1 }, delete: { 'DELETE pods': 1 } };

/**
 * API requests per pod lifecycle, for one single-container pod: create → running
 * (start) and delete → gone (delete), each repeated. The node's own requests come
 * from apiserver_flowcontrol_dispatched_requests_total of FlowSchemas matching only
 * its user (see attribution.ts); apiserver_request_total (verb, resource,
 * subresource) is diffed too, but it counts every client of the cluster.
 */
export async function apiRequests(ctx: BenchContext, opts: ApiRequestsOptions): Promise<ScenarioResult> {
  const startedAt = new Date();
  const reps: { start: Counts; delete: Counts; nodeStart: Counts; nodeDelete: Counts }[] = [];
  const attribution = await attributeNodeRequests(ctx.cluster, ctx.node.nodeName);
  const unregister = ctx.cleanup.add('FlowSchemas', () => attribution.remove());
  try {
    await withNamespace(ctx, 'apireq', async (ns) => {
      for (let r = 0; r < opts.repetitions; r++) {
        ctx.log(`api-requests: lifecycle ${r + 1}/${opts.repetitions}`);
        const name = `life-${r}`;
        await sleep(opts.settleMs);
        const m0 = await scrape(ctx.cluster.kc, attribution.schemas);
        await ns.create(benchPod(name, ctx.node.nodeName, UNTIL_SIGTERM));
        if (!(await ns.tracker.first(name, (e) => e.type !== 'DELETED' && allRunning(e.pod), opts.timeoutMs))) throw new Error(`${name} did not run within ${opts.timeoutMs / 1000} s`);
        await sleep(opts.settleMs);
        const m1 = await scrape(ctx.cluster.kc, attribution.schemas);
        const sent = Date.now();
        await ctx.cluster.core.deleteNamespacedPod({ namespace: ns.name, name });
        if (!(await ns.tracker.first(name, (e) => e.type === 'DELETED', opts.timeoutMs, sent))) throw new Error(`${name} was not gone within ${opts.timeoutMs / 1000} s`);
        await sleep(opts.settleMs);
        const m2 = await scrape(ctx.cluster.kc, attribution.schemas);
        reps.push({
          start: minus(diff(m0.requests, m1.requests), HARNESS.start),
          delete: minus(diff(m1.requests, m2.requests), HARNESS.delete),
          nodeStart: diff(m0.node, m1.node),
          nodeDelete: diff(m1.node, m2.node),
        });
      }
    });
  } finally {
    unregister();
    await attribution.remove();
  }
  const table = (phase: 'start' | 'delete' | 'nodeStart' | 'nodeDelete') => {
    const keys = [...new Set(reps.flatMap((r) => [...r[phase].keys()]))].sort();
    return keys.map((key) => {
      const each = reps.map((r) => r[phase].get(key) ?? 0);
      return { request: key, median: median(each), min: Math.min(...each), max: Math.max(...each), each };
    });
  };
  const nodeStart = table('nodeStart');
  const nodeDelete = table('nodeDelete');
  const sum = (rows: ReturnType<typeof table>, keys: string[]) => rows.filter((r) => keys.includes(r.request)).reduce((a, r) => a + r.median, 0);
  const kubeletWrites = (o: Record<string, number>) => Object.entries(o).filter(([k]) => WRITE_VERBS.has(k.split(' ')[0]!)).reduce((a, [, v]) => a + v, 0);
  const kubeletAll = (o: Record<string, number>) => Object.values(o).reduce((a, v) => a + v, 0);
  const breakdown = (rows: ReturnType<typeof table>) =>
    rows.filter((r) => r.median > 0 && PER_POD_KEYS.includes(r.request)).map((r) => `${r.request} ${r.median}`).join(', ') || 'none';
  const figures: Figure[] = [
    judge({
      id: 'api.start.writes',
      title: 'API writes by the node for one pod: create → running',
      unit: 'requests',
      value: sum(nodeStart, WRITE_KEYS),
      goals: [{ stat: 'value', max: kubeletWrites(KUBELET_EXPECTED.start), source: '#7: ≤ the kubelet' }],
      note: `node: ${breakdown(nodeStart)}; the kubelet: ${fmtExpected(KUBELET_EXPECTED.start)}`,
    }),
    judge({ id: 'api.start.all', title: 'API requests by the node for one pod: create → running (reads too)', unit: 'requests', value: sum(nodeStart, PER_POD_KEYS), note: `the kubelet: ${kubeletAll(KUBELET_EXPECTED.start)}` }),
    judge({
      id: 'api.delete.writes',
      title: 'API writes by the node for one pod: delete → gone',
      unit: 'requests',
      value: sum(nodeDelete, WRITE_KEYS),
      goals: [{ stat: 'value', max: kubeletWrites(KUBELET_EXPECTED.delete), source: '#7: ≤ the kubelet' }],
      note: `node: ${breakdown(nodeDelete)}; the kubelet: ${fmtExpected(KUBELET_EXPECTED.delete)}`,
    }),
    judge({ id: 'api.delete.all', title: 'API requests by the node for one pod: delete → gone (reads too)', unit: 'requests', value: sum(nodeDelete, PER_POD_KEYS), note: `the kubelet: ${kubeletAll(KUBELET_EXPECTED.delete)}` }),
  ];
  return {
    scenario: 'api-requests',
    title: 'API requests per pod lifecycle',
    figures,
    notes: [
      'The node\'s requests are attributed with API Priority and Fairness: FlowSchemas matching only the user system:node:<node>, one per verb and resource, counted by apiserver_flowcontrol_dispatched_requests_total (same priority levels as the built-in node schemas, so nothing changes for the node). Figures are medians over the repetitions; Node and Lease requests are the node\'s background, not per pod.',
      'apiserver_request_total has no user label: its diff (clusterWide*) holds every client\'s requests in the window (the harness\'s own POST and DELETE of the pod are taken off; controllers, other nodes and tests on a shared cluster are not), so it can only bound the node\'s count from above.',
      `The kubelet's counts are read from its code, not measured: ${KUBELET_EXPECTED.source}.`,
    ],
    details: { node: { start: nodeStart, delete: nodeDelete }, clusterWideStart: table('start'), clusterWideDelete: table('delete'), kubeletExpected: KUBELET_EXPECTED, harnessOwn: HARNESS },
    startedAt: startedAt.toISOString(),
    durationMs: Date.now() - startedAt.getTime(),
  };
}

const fmtExpected = (o: Record<string, number>) => Object.entries(o).map(([k, v]) => `${k} ${v}`).join(', ');

interface Scrape {
  requests: Counts;
  /** The node's requests per bucket (FlowSchema). */
  node: Counts;
}

async function scrape(kc: KubeConfig, schemas: Map<string, string>): Promise<Scrape> {
  const text = await getMetrics(kc);
  const requests: Counts = new Map();
  const node: Counts = new Map();
  for (const line of text.split('\n')) {
    const m = /^(\w+)\{(.*)\} ([\d.e+]+)$/.exec(line);
    if (!m) continue;
    const labels = Object.fromEntries([...m[2]!.matchAll(/(\w+)="([^"]*)"/g)].map((x) => [x[1]!, x[2]!]));
    const value = Number(m[3]);
    if (m[1] === 'apiserver_request_total' && labels['resource']) {
      const key = `${labels['verb']} ${labels['resource']}${labels['subresource'] ? `/${labels['subresource']}` : ''}`;
      requests.set(key, (requests.get(key) ?? 0) + value);
    } else if (m[1] === 'apiserver_flowcontrol_dispatched_requests_total' && schemas.has(labels['flow_schema'] ?? '')) {
      const key = schemas.get(labels['flow_schema']!)!;
      node.set(key, (node.get(key) ?? 0) + value);
    }
  }
  return { requests, node };
}

async function getMetrics(kc: KubeConfig): Promise<string> {
  const server = new URL(kc.getCurrentCluster()!.server);
  const opts: Parameters<KubeConfig['applyToHTTPSOptions']>[0] = { hostname: server.hostname, port: server.port, path: '/metrics', method: 'GET', headers: {} };
  await kc.applyToHTTPSOptions(opts);
  return new Promise((resolve, reject) => {
    const req = request(opts as Parameters<typeof request>[0], (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => (res.statusCode === 200 ? resolve(body) : reject(new Error(`GET /metrics: HTTP ${res.statusCode}`))));
    });
    req.on('error', reject);
    req.end();
  });
}

function diff(before: Counts, after: Counts): Counts {
  const d: Counts = new Map();
  for (const [k, v] of after) {
    const n = v - (before.get(k) ?? 0);
    if (n > 0) d.set(k, n);
  }
  return d;
}

function minus(c: Counts, own: Record<string, number>): Counts {
  const d = new Map(c);
  for (const [k, v] of Object.entries(own)) {
    const n = (d.get(k) ?? 0) - v;
    if (n > 0) d.set(k, n);
    else d.delete(k);
  }
  return d;
}
