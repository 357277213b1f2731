import { randomBytes } from 'node:crypto';
import { CoreV1Api, KubeConfig } from '@kubernetes/client-node';
import { mintNodeKubeconfig } from './kubeconfig';
import { kubectl, labEnv, runCommand } from './lab';
import { testNode, type ServiceName, type TestNode } from './node-services';

/** A fresh node name and namespace for one e2e file: `<prefix>-<hex>`, the same for both. */
export function podTestNames(prefix: string): { nodeName: string; namespace: string } {
  const name = `${prefix}-${randomBytes(3).toString('hex')}`;
  return { nodeName: name, namespace: name };
}

export interface PodTestNode {
  node: TestNode;
  /** The API as the lab's admin. */
  core: CoreV1Api;
  /** Deletes the namespace, stops the services, removes what Docker still runs for the node and the Node object. */
  stop(): Promise<void>;
}

/**
 * A splitlet node that runs pods, for an end-to-end file: its namespace created, a node
 * identity minted through the CSR API, runtime-executor and status-reporter (and the
 * prober when asked) started, then pod-sync, then registrar — the Node must exist, or
 * the pod GC deletes the pods bound to it. Syncs every 2 s; env adds or overrides.
 */
export async function startPodTestNode(
  names: { nodeName: string; namespace: string },
  opts: {
    env?: Record<string, string>;
    prober?: boolean;
    server?: string;
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
  const node = testNode(names.nodeName, await mintNodeKubeconfig(names.nodeName, { server: opts.server }), {
    SPLITLET_PAUSE_IMAGE: 'splitlet-lab/pause:1',
    SPLITLET_POD_RESYNC_MS: '2000',
    ...opts.env,
  });
  const first: ServiceName[] = ['runtime-executor', 'status-reporter', ...(opts.prober ? (['prober'] as const) : [])];
  await Promise.all(first.map((s) => node.start(s)));
  await node.start('pod-sync');
  await node.start('registrar');
  return {
    node,
    core,
    async stop() {
      await kubectl(lab.adminKubeconfig, ['delete', 'namespace', names.namespace, '--wait=false']);
      await node.stopAll();
      const left = (await runCommand('docker', ['ps', '-aq', '--filter', `label=splitlet.node=${names.nodeName}`])).stdout.split('\n').filter(Boolean);
      if (left.length) await runCommand('docker', ['rm', '-f', ...left]);
      await core.deleteNode({ name: names.nodeName }).catch(() => undefined);
    },
  };
}
