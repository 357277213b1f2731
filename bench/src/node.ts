import { readdir, readFile } from 'node:fs/promises';
import { approveServingCsr, freePort, kubectl, labEnv, mintNodeKubeconfig, requiredServices, runCommand, testNode, type ServiceName, type TestNode } from '@splitlet/testing';
import type { Cleanup } from './context';
import { sleep, type Cluster } from './kube';

/** Where one service of the node runs: a process on this host, or a container (compose). */
export type ServiceLocation = { service: string; pid: number } | { service: string; container: string };

export interface NodeUnderTest {
  nodeName: string;
  /** What runs the node: splitlet's services, or the upstream kubelet (the reference node, issue 18). */
  agent: 'splitlet' | 'kubelet';
  /** True when the harness started the node (and so stops it). */
  ownedByHarness: boolean;
  /** The service processes of a splitlet node the harness started as separate processes (the rollover restarts them). */
  services?: TestNode;
  /** The node's service processes or containers, found afresh on each call. */
  locate(): Promise<ServiceLocation[]>;
  /**
   * The container runtime under it, found afresh: the daemons and the shims of this
   * node's containers (Docker: dockerd, its containerd, a shim per container labelled
   * with the node; the reference node: its containerd and its shims).
   */
  runtime(): Promise<ServiceLocation[]>;
  stop(): Promise<void>;
}

/**
 * Starts a splitlet node named `nodeName` as the end-to-end tests do: a node identity
 * system:node:<name> from a CSR the admin approves, the five services' bundles as
 * processes against the lab's NATS and API server; resolves once the Node is Ready.
 * With `nodeApi`, node-api too, as the node-api e2e tests start it: on a free kubelet
 * port that registrar reports (so the API server reaches it for logs, exec and
 * port-forward), serving once the harness, as admin, approved its kubelet-serving CSR.
 * Its stop is on `cleanup` before the first process starts, so an interruption at any
 * point stops what has started (and starts nothing more).
 */
export async function startOwnNode(
  cluster: Cluster,
  nodeName: string,
  log: (m: string) => void,
  cleanup: Cleanup,
  opts: { nodeApi?: boolean; mode?: 'separate' | 'single' } = {},
): Promise<NodeUnderTest> {
  const kubeconfig = await mintNodeKubeconfig(nodeName);
  // Every service reads it: node-api listens there, registrar reports it in daemonEndpoints.
  const kubeletPort = opts.nodeApi ? await freePort() : undefined;
  const node: TestNode = testNode(nodeName, kubeconfig, {
    SPLITLET_PAUSE_IMAGE: process.env['SPLITLET_PAUSE_IMAGE'] ?? 'splitlet-lab/pause:1',
    LOG_LEVEL: process.env['LOG_LEVEL'] ?? 'info',
    ...(kubeletPort ? { SPLITLET_KUBELET_PORT: String(kubeletPort) } : {}),
    // registrar requires what runs here (node-api only when asked).
    SPLITLET_NODE_REQUIRED_SERVICES: requiredServices({ prober: true, nodeApi: opts.nodeApi }).join(','),
  });
  let stopping = false;
  let servingCsr: string | undefined;
  const handle: NodeUnderTest = {
    nodeName,
    agent: 'splitlet',
    ownedByHarness: true,
    ...(opts.mode === 'single' ? {} : { services: node }),
    runtime: () => dockerRuntime(nodeName),
    async locate() {
      if (opts.mode === 'single') {
        const pid = Object.values(node.procs)[0]?.child.pid;
        return pid ? [{ service: 'all-in-one', pid }] : [];
      }
      return Object.entries(node.procs).flatMap(([service, p]) => (p?.child.pid ? [{ service, pid: p.child.pid }] : []));
    },
    async stop() {
      stopping = true;
      await node.stopAll();
      // Anything of ours still there (a start that raced the stop): our children naming this node.
      for (const p of await findProcesses(nodeName)) {
        if ('pid' in p && (await parentOf(p.pid)) === process.pid) process.kill(p.pid, 'SIGKILL');
      }
      const left = (await runCommand('docker', ['ps', '-aq', '--filter', `label=splitlet.node=${nodeName}`])).stdout.split('\n').filter(Boolean);
      if (left.length) await runCommand('docker', ['rm', '-f', ...left]);
      await cluster.core.deleteNode({ name: nodeName }).catch(() => undefined);
      if (servingCsr) await kubectl(labEnv().adminKubeconfig, ['delete', 'csr', servingCsr, '--ignore-not-found']);
    },
  };
  cleanup.add(`node ${nodeName}`, () => handle.stop());
  const step = async (names: ServiceName[]) => {
    if (stopping) throw new Error(`node ${nodeName}: interrupted while starting`);
    await Promise.all(names.map((n) => node.start(n)));
  };
  if (opts.mode === 'single') {
    // The all-in-one process, the services started in the same order as below.
    if (stopping) throw new Error(`node ${nodeName}: interrupted while starting`);
    await node.startTogether(['runtime-executor', 'status-reporter', 'pod-sync', 'prober', ...(opts.nodeApi ? (['node-api'] as const) : []), 'registrar']);
  } else {
    await step(['runtime-executor', 'status-reporter']);
    // What registrar requires runs before it, so the Node is Ready from its first status
    // (node-api waits for the Node's addresses before filing its CSR).
    await step(['pod-sync', 'prober']);
    if (opts.nodeApi) await step(['node-api']);
    await step(['registrar']);
  }
  if (opts.nodeApi) {
    log(`node ${nodeName}: approving node-api's kubelet-serving CSR (port ${kubeletPort})`);
    servingCsr = await approveServingCsr(nodeName);
    await node.procs['node-api']!.waitForLog((l) => l['msg'] === 'listening', 30_000);
  }
  log(`node ${nodeName}: services started, waiting for the Node to be Ready`);
  await waitNodeReady(cluster, nodeName, 60_000);
  return handle;
}

async function parentOf(pid: number): Promise<number | undefined> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => '');
  const ppid = stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1];
  return ppid === undefined ? undefined : Number(ppid);
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
    agent: 'splitlet',
    ownedByHarness: false,
    runtime: () => dockerRuntime(nodeName),
    async locate() {
      const procs = await findProcesses(nodeName);
      return procs.length ? procs : findContainers(nodeName);
    },
    async stop() {},
  };
}

async function findProcesses(nodeName: string): Promise<ServiceLocation[]> {
  const found: ServiceLocation[] = [];
  for (const p of await processes()) {
    const service = /services\/([a-z-]+)\/dist\/main\.js/.exec(p.args.join(' '))?.[1];
    if (!service) continue;
    const env = (await readFile(`/proc/${p.pid}/environ`, 'utf8').catch(() => '')).split('\0');
    if (env.includes(`SPLITLET_NODE_NAME=${nodeName}`)) found.push({ service, pid: p.pid });
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

/**
 * The lab's reference node (`lab:up -- --reference`): the upstream kubelet, found as
 * the process whose arguments say `--hostname-override=<node>`, on its own containerd
 * (the one whose `--config` is the reference's) with its shims.
 */
export function referenceNode(nodeName: string): NodeUnderTest {
  return {
    nodeName,
    agent: 'kubelet',
    ownedByHarness: false,
    async locate() {
      return (await processes()).filter((p) => p.args.includes(`--hostname-override=${nodeName}`) && /kubelet/.test(p.args[0] ?? '')).map((p) => ({ service: 'kubelet', pid: p.pid }));
    },
    async runtime() {
      const all = await processes();
      const daemon = all.find((p) => /containerd$/.test(p.args[0] ?? '') && p.args.some((a) => a.endsWith('/reference/containerd.toml')));
      if (!daemon) return [];
      const sock = /address = "([^"]+)"/.exec(await readFile(daemon.args[daemon.args.indexOf('--config') + 1] ?? '', 'utf8').catch(() => ''))?.[1];
      const shims = all.filter((p) => /containerd-shim/.test(p.args[0] ?? '') && sock !== undefined && p.args.includes(sock));
      return [{ service: 'containerd', pid: daemon.pid }, ...shims.map((p) => ({ service: 'shim', pid: p.pid }))];
    },
    async stop() {},
  };
}

/** Docker under a splitlet node: dockerd, its containerd, and the shim of each container labelled with the node. */
async function dockerRuntime(nodeName: string): Promise<ServiceLocation[]> {
  const all = await processes();
  const ids = new Set((await runCommand('docker', ['ps', '-q', '--no-trunc', '--filter', `label=splitlet.node=${nodeName}`])).stdout.split('\n').filter(Boolean));
  const out: ServiceLocation[] = [];
  for (const p of all) {
    const exe = p.args[0] ?? '';
    if (/dockerd$/.test(exe)) out.push({ service: 'dockerd', pid: p.pid });
    else if (/(^|\/)containerd$/.test(exe) && p.args.some((a) => a.includes('/docker/containerd/'))) out.push({ service: 'containerd', pid: p.pid });
    else if (/containerd-shim/.test(exe) && ids.has(p.args[p.args.indexOf('-id') + 1] ?? '')) out.push({ service: 'shim', pid: p.pid });
  }
  return out;
}

/** Every process's pid and arguments (those gone meanwhile left out). */
async function processes(): Promise<{ pid: number; args: string[] }[]> {
  const out: { pid: number; args: string[] }[] = [];
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const args = (await readFile(`/proc/${entry}/cmdline`, 'utf8').catch(() => '')).split('\0').filter(Boolean);
    if (args.length) out.push({ pid: Number(entry), args });
  }
  return out;
}
