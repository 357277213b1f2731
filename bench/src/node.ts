import { readdir, readFile } from 'node:fs/promises';
import { mintNodeKubeconfig, runCommand, testNode, type ServiceName, type TestNode } from '@splitlet/testing';
import { sleep, type Cluster } from './kube';

export const SERVICES: readonly ServiceName[] = ['runtime-executor', 'status-reporter', 'pod-sync', 'registrar', 'prober'];

/** Where one service of the node runs: a process on this host, or a container (compose). */
export type ServiceLocation = { service: string; pid: number } | { service: string; container: string };

export interface NodeUnderTest {
  nodeName: string;
  /** True when the harness started the node (and so stops it). */
  ownedByHarness: boolean;
  /** The node's service processes or containers, found afresh on each call. */
  locate(): Promise<ServiceLocation[]>;
  stop(): Promise<void>;
}

/**
 * Starts a splitlet node named `nodeName` as the end-to-end tests do: a node identity
 * system:node:<name> from a CSR the admin approves, the five services' bundles as
 * processes against the lab's NATS and API server; resolves once the Node is Ready.
 */
export async function startOwnNode(cluster: Cluster, nodeName: string, log: (m: string) => void): Promise<NodeUnderTest> {
  const kubeconfig = await mintNodeKubeconfig(nodeName);
  const node: TestNode = testNode(nodeName, kubeconfig, {
    SPLITLET_PAUSE_IMAGE: process.env['SPLITLET_PAUSE_IMAGE'] ?? 'splitlet-lab/pause:1',
    LOG_LEVEL: process.env['LOG_LEVEL'] ?? 'info',
  });
  const handle: NodeUnderTest = {
    nodeName,
    ownedByHarness: true,
    async locate() {
      return Object.entries(node.procs).flatMap(([service, p]) => (p?.child.pid ? [{ service, pid: p.child.pid }] : []));
    },
    async stop() {
      await node.stopAll();
      const left = (await runCommand('docker', ['ps', '-aq', '--filter', `label=splitlet.node=${nodeName}`])).stdout.split('\n').filter(Boolean);
      if (left.length) await runCommand('docker', ['rm', '-f', ...left]);
      await cluster.core.deleteNode({ name: nodeName }).catch(() => undefined);
    },
  };
  try {
    await Promise.all([node.start('runtime-executor'), node.start('status-reporter')]);
    await node.start('pod-sync');
    await Promise.all([node.start('registrar'), node.start('prober')]);
    log(`node ${nodeName}: services started, waiting for the Node to be Ready`);
    await waitNodeReady(cluster, nodeName, 60_000);
  } catch (err) {
    await handle.stop();
    throw err;
  }
  return handle;
}

export async function waitNodeReady(cluster: Cluster, nodeName: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const node = await cluster.core.readNode({ name: nodeName }).catch(() => undefined);
    if (node?.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True')) return;
    if (Date.now() > deadline) throw new Error(`Node ${nodeName} is not Ready after ${timeoutMs / 1000} s`);
    await sleep(250);
  }
}

/**
 * A node the harness did not start: its services are found each time as processes
 * whose environment says SPLITLET_NODE_NAME=<node> (npm run node:up, the e2e
 * harness), else as containers with that variable (docker compose).
 */
export function existingNode(nodeName: string): NodeUnderTest {
  return {
    nodeName,
    ownedByHarness: false,
    async locate() {
      const procs = await findProcesses(nodeName);
      return procs.length ? procs : findContainers(nodeName);
    },
    async stop() {},
  };
}

async function findProcesses(nodeName: string): Promise<ServiceLocation[]> {
  const found: ServiceLocation[] = [];
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const env = (await readFile(`/proc/${entry}/environ`, 'utf8')).split('\0');
      if (!env.includes(`SPLITLET_NODE_NAME=${nodeName}`)) continue;
      const cmdline = (await readFile(`/proc/${entry}/cmdline`, 'utf8')).split('\0').join(' ');
      const service = /services\/([a-z-]+)\/dist\/main\.js/.exec(cmdline)?.[1];
      if (service) found.push({ service, pid: Number(entry) });
    } catch {
      // gone, or not ours to read
    }
  }
  return found;
}

async function findContainers(nodeName: string): Promise<ServiceLocation[]> {
  const ids = (await runCommand('docker', ['ps', '-q'])).stdout.split('\n').filter(Boolean);
  if (!ids.length) return [];
  const r = await runCommand('docker', ['inspect', ...ids]);
  if (r.code !== 0) return [];
  const inspected = JSON.parse(r.stdout) as { Id: string; Name: string; Config: { Env?: string[]; Labels?: Record<string, string> } }[];
  return inspected
    .filter((c) => c.Config.Env?.includes(`SPLITLET_NODE_NAME=${nodeName}`))
    .map((c) => ({ service: c.Config.Labels?.['com.docker.compose.service'] ?? c.Name.replace(/^\//, ''), container: c.Id }));
}
