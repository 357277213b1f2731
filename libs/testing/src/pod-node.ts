import { randomBytes } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { CoreV1Api, KubeConfig } from '@kubernetes/client-node';
import { mintNodeKubeconfig } from './kubeconfig';
import { kubectl, labEnv, runCommand } from './lab';
import { testNode, type ServiceName, type TestNode } from './node-services';
import { approveServingCsr, freePort } from './serving-csr';

/**
 * What registrar of a test node requires (SPLITLET_NODE_REQUIRED_SERVICES): the services
 * it runs besides registrar and runtime-executor, in the setting's default order.
 */
export function requiredServices(runs: { podSync?: boolean; prober?: boolean; statusReporter?: boolean; nodeApi?: boolean } = {}): ServiceName[] {
  const { podSync = true, prober = false, statusReporter = true, nodeApi = false } = runs;
  return [...(podSync ? (['pod-sync'] as const) : []), ...(prober ? (['prober'] as const) : []), ...(statusReporter ? (['status-reporter'] as const) : []), ...(nodeApi ? (['node-api'] as const) : [])];
}

/** A fresh node name and namespace for one e2e file: `<prefix>-<hex>`, the same for both. */
export function podTestNames(prefix: string): { nodeName: string; namespace: string } {
  const name = `${prefix}-${randomBytes(3).toString('hex')}`;
  return { nodeName: name, namespace: name };
}

export interface PodTestNode {
  node: TestNode;
  /** The API as the lab's admin. */
  core: CoreV1Api;
  /** The kubelet port node-api listens on (and registrar reports), when started with `nodeApi`. */
  kubeletPort?: number;
  /** Deletes the namespace, stops the services, removes what Docker still runs for the node and the Node object. */
  stop(): Promise<void>;
}

/**
 * A splitlet node that runs pods, for an end-to-end file: its namespace created, a node
 * identity minted through the CSR API, runtime-executor and status-reporter (and the
 * prober when asked) started, then pod-sync (and node-api when asked), then registrar —
 * the Node must exist, or the pod GC deletes the pods bound to it. registrar requires
 * (SPLITLET_NODE_REQUIRED_SERVICES) exactly the services started, so the Node is Ready
 * from its first status. Syncs every 2 s; env adds or overrides.
 * With `nodeApi`, node-api serves on a free port that registrar reports, once its
 * kubelet-serving CSR is approved (the harness approves it as admin).
 */
/**
 * How startPodTestNode runs a node's services: `separate` processes (the default) or
 * `single`, one all-in-one process (SPLITLET_E2E_NODE_MODE=single runs the suite so).
 */
export const e2eNodeMode = (): 'separate' | 'single' => (process.env['SPLITLET_E2E_NODE_MODE'] === 'single' ? 'single' : 'separate');

export async function startPodTestNode(
  names: { nodeName: string; namespace: string },
  opts: {
    env?: Record<string, string>;
    prober?: boolean;
    server?: string;
    nodeApi?: boolean;
    /** separate processes or one all-in-one process; default: e2eNodeMode(). */
    mode?: 'separate' | 'single';
    /** Runs once the namespace exists, before any service starts: objects the node's first lists must already hold (Services). */
    setup?: (core: CoreV1Api) => Promise<void>;
  } = {},
): Promise<PodTestNode> {
  const lab = labEnv();
  const admin = new KubeConfig();
  admin.loadFromFile(lab.adminKubeconfig);
  const core = admin.makeApiClient(CoreV1Api);
  const created = await kubectl(lab.adminKubeconfig, ['create', 'namespace', names.namespace]);
  if (created.code !== 0) throw new Error(`cannot create namespace ${names.namespace}: ${created.stderr}`);
  await opts.setup?.(core);
  const kubeletPort = opts.nodeApi ? await freePort() : undefined;
  const required = requiredServices({ prober: opts.prober, nodeApi: opts.nodeApi });
  const node = testNode(names.nodeName, await mintNodeKubeconfig(names.nodeName, { server: opts.server }), {
    SPLITLET_PAUSE_IMAGE: 'splitlet-lab/pause:1',
    SPLITLET_POD_RESYNC_MS: '2000',
    SPLITLET_NODE_REQUIRED_SERVICES: required.join(','),
    ...(kubeletPort ? { SPLITLET_KUBELET_PORT: String(kubeletPort) } : {}),
    ...opts.env,
  });
  const first: ServiceName[] = ['runtime-executor', 'status-reporter', ...(opts.prober ? (['prober'] as const) : [])];
  if ((opts.mode ?? e2eNodeMode()) === 'single') {
    await node.startTogether([...first, 'pod-sync', ...(opts.nodeApi ? (['node-api'] as const) : []), 'registrar']);
  } else {
    await Promise.all(first.map((s) => node.start(s)));
    await node.start('pod-sync');
    // node-api before registrar, which requires it: it waits for the Node's addresses before filing its CSR.
    if (opts.nodeApi) await node.start('node-api');
    await node.start('registrar');
  }
  const api = opts.nodeApi ? node.procs['node-api'] : undefined;
  let servingCsr: string | undefined;
  if (api) {
    servingCsr = await approveServingCsr(names.nodeName);
    await api.waitForLog((l) => l['msg'] === 'listening', 30_000);
  }
  return {
    node,
    core,
    ...(kubeletPort ? { kubeletPort } : {}),
    async stop() {
      await kubectl(lab.adminKubeconfig, ['delete', 'namespace', names.namespace, '--wait=false']);
      const procs = { ...node.procs };
      await node.stopAll();
      await dumpLogs(procs, names.nodeName);
      const left = (await runCommand('docker', ['ps', '-aq', '--filter', `label=splitlet.node=${names.nodeName}`])).stdout.split('\n').filter(Boolean);
      if (left.length) await runCommand('docker', ['rm', '-f', ...left]);
      await core.deleteNode({ name: names.nodeName }).catch(() => undefined);
      if (servingCsr) await kubectl(lab.adminKubeconfig, ['delete', 'csr', servingCsr, '--ignore-not-found']);
    },
  };
}

/**
 * With SPLITLET_E2E_DUMP_DIR set (scripts/test.sh sets it), each service's log lines and
 * stderr go to <dir>/<node>/<service>.log once the node has stopped: what a failed
 * run's services did, for a look afterwards.
 */
async function dumpLogs(procs: TestNode['procs'], nodeName: string): Promise<void> {
  const dir = process.env['SPLITLET_E2E_DUMP_DIR'];
  if (!dir) return;
  await mkdir(join(dir, nodeName), { recursive: true });
  for (const [name, p] of Object.entries(procs)) {
    if (p) await writeFile(join(dir, nodeName, `${name}.log`), `${p.logs.map((l) => JSON.stringify(l)).join('\n')}\n${p.stderr()}`);
  }
}
