import { randomBytes } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import { CoreV1Api, KubeConfig, Watch, type V1Lease, type V1Node } from '@kubernetes/client-node';
import { labEnv, mintNodeKubeconfig, requiredServices, testNode, type TestNode } from '@splitlet/testing';

// A 3-minute run: the controller manager's node lifecycle controller must never see
// the node as unreachable, and the registrar writes no more than a kubelet would.
const lab = labEnv();
const nodeName = `e2e-soak-${randomBytes(3).toString('hex')}`;
const RUN_MS = 3 * 60_000;

describe('registrar over a 3-minute run', () => {
  let node: TestNode | undefined;
  const admin = new KubeConfig();
  admin.loadFromFile(lab.adminKubeconfig);
  afterAll(async () => {
    await node?.stopAll();
    await admin.makeApiClient(CoreV1Api).deleteNode({ name: nodeName }).catch(() => undefined);
  });

  it('registrar - 3 minutes: never unreachable, never Unknown; Node and Lease writes counted', async () => {
    node = testNode(nodeName, await mintNodeKubeconfig(nodeName), { SPLITLET_NODE_REQUIRED_SERVICES: requiredServices({ statusReporter: false }).join(',') });
    const counts = { nodeWrites: 0, leaseWrites: 0 };
    // What each of the node's status writes changed (heartbeat times aside): a kubelet
    // writes its status only when something in it changed, or every 5 minutes.
    const changes: string[][] = [];
    let lastStatus: Record<string, string> = {};
    const problems: string[] = [];
    const notReady: string[] = [];
    let lastHeartbeat = '';
    const watch = new Watch(admin);
    // A watch the API server ends (it may, any time) is resumed from the last
    // resourceVersion seen, as an informer would: an ended watch must not read as "no writes".
    const resumed: string[] = [];
    const resumable = async (path: string, onEvent: (type: string, obj: V1Node & V1Lease) => void) => {
      let rv: string | undefined;
      let stopped = false;
      let req: { abort(): void } | undefined;
      const start = async (): Promise<void> => {
        req = await watch.watch(path, { fieldSelector: `metadata.name=${nodeName}`, ...(rv ? { resourceVersion: rv } : {}) }, (type: string, obj: V1Node & V1Lease) => {
          rv = obj.metadata?.resourceVersion ?? rv;
          onEvent(type, obj);
        }, (err: unknown) => {
          if (stopped) return;
          resumed.push(`${path}: ${String(err ?? 'ended')}`);
          void start();
        });
      };
      await start();
      return { abort: () => { stopped = true; req?.abort(); } };
    };
    const watches = [
      await resumable('/api/v1/nodes', (type: string, n: V1Node) => {
        // The node's own writes move its heartbeat; the controller manager's (taints) do not.
        const heartbeat = String(n.status?.conditions?.find((c) => c.type === 'Ready')?.lastHeartbeatTime ?? '');
        const status = statusFields(n);
        if ((type === 'ADDED' || type === 'MODIFIED') && heartbeat !== lastHeartbeat) {
          counts.nodeWrites++;
          changes.push(Object.keys({ ...lastStatus, ...status }).filter((k) => lastStatus[k] !== status[k]));
        }
        lastHeartbeat = heartbeat;
        lastStatus = status;
        // (A new Node carries node.kubernetes.io/not-ready until the controller sees it Ready:
        // the TaintNodesByCondition admission plugin puts it on every new Node.)
        for (const t of n.spec?.taints ?? []) if (t.key === 'node.kubernetes.io/unreachable') problems.push(`taint ${t.key}:${t.effect}`);
        for (const c of n.status?.conditions ?? []) {
          if (c.status === 'Unknown') problems.push(`${c.type}=Unknown: ${c.message}`);
          if (c.type === 'Ready' && c.status === 'False') notReady.push(`Ready=False: ${c.message}`);
        }
      }),
      await resumable('/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases', (type: string) => {
        if (type === 'ADDED' || type === 'MODIFIED') counts.leaseWrites++;
      }),
    ];
    await node.start('runtime-executor');
    await node.start('pod-sync');
    await node.start('registrar');
    await new Promise((r) => setTimeout(r, RUN_MS));
    for (const w of watches) w.abort();

    console.log(`registrar writes over ${RUN_MS / 1000} s: Node ${counts.nodeWrites} (create + status patches: ${JSON.stringify(changes)}), Lease ${counts.leaseWrites} (create + renewals); watches resumed: ${JSON.stringify(resumed)}`);
    expect(problems).toEqual([]);
    expect(notReady).toEqual([]);
    // A kubelet: one create, status patches only on change or every 5 minutes (none
    // within 3); the lease created once, then renewed every 10 s. What changes on a
    // shared Docker is not the test's to fix (other tests' images reach status.images),
    // so each write is held to having changed something, and the count to a bound.
    expect(counts.nodeWrites).toBeGreaterThanOrEqual(1);
    expect(changes.filter((c) => c.length === 0), 'status writes that changed nothing').toEqual([]);
    expect(counts.nodeWrites).toBeLessThanOrEqual(18);
    expect(counts.leaseWrites).toBeGreaterThanOrEqual(16);
    expect(counts.leaseWrites).toBeLessThanOrEqual(20);
  }, RUN_MS + 120_000);
});

/** The Node's status as comparable strings per field, the conditions' heartbeat times left out. */
function statusFields(n: V1Node): Record<string, string> {
  const { conditions, ...rest } = n.status ?? {};
  const fields: Record<string, string> = Object.fromEntries(Object.entries(rest).map(([k, v]) => [k, JSON.stringify(v)]));
  for (const c of conditions ?? []) {
    const { lastHeartbeatTime: _, ...kept } = c;
    fields[`conditions.${c.type}`] = JSON.stringify(kept);
  }
  return fields;
}
