import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Docker from 'dockerode';
import { labBinary, runCommand } from '@splitlet/testing';
import { randomSuffix, sleep, TESTBOX, UNTIL_SIGTERM } from '../kube';
import type { BenchContext } from '../context';
import { machineBusy, waitMachineQuiet } from '../proc';
import { latencyFigure, type Figure, type ScenarioResult } from '../result';

export interface RuntimeOptions {
  pods: number;
  qps: number;
  /** How long the machine's background CPU is sampled before the run (ms). */
  baselineMs: number;
}

/** One pod's start through the runtime alone, from its due time. */
export interface RuntimeStart {
  sandboxMs?: number;
  totalMs?: number;
  error?: string;
}

const PAUSE = process.env['SPLITLET_PAUSE_IMAGE'] ?? 'splitlet-lab/pause:1';

/**
 * The container runtime alone (issue 18: where splitlet's node is slower than the
 * kubelet's, is the cause the runtime, Docker against containerd?). The node's agent
 * is frozen (SIGSTOP; a compose node's containers paused), then `pods` pods are started
 * straight through the node's runtime at `qps` pods per second, each a sandbox and one
 * container of the startup scenario's shape, with the requests each agent makes:
 * - splitlet's node: Docker, with runtime-executor's own create bodies (the sandbox on
 *   Docker's bridge network with a shareable IPC namespace, the container joining its
 *   network and IPC namespaces), create + start each;
 * - the reference node: containerd through the CRI, as the kubelet calls it
 *   (RunPodSandbox with its CNI network, CreateContainer, StartContainer), by the
 *   lab's `ref-critime` (test/lab/reference/critime).
 * Figures: each pod's start (due time → its container's start returned), the sandbox
 * part of it, and the whole machine's CPU-seconds per 100 pods over the run less the
 * background measured just before with the agent frozen (it holds what the runtime
 * runs besides itself: Docker's setkey hook, the CNI plugins, runc, the shims, the
 * kernel's share). The agent is thawed and the pods removed afterwards.
 */
export async function runtimeAlone(ctx: BenchContext, opts: RuntimeOptions): Promise<ScenarioResult> {
  const startedAt = new Date();
  const prefix = `rt-${randomSuffix()}-`;
  const driver = ctx.node.agent === 'splitlet' ? dockerDriver(prefix) : await criDriver(prefix);
  const settled = await waitMachineQuiet({ belowCores: 0.33, forMs: 3000, maxMs: 90_000 });
  ctx.log(`runtime: the machine ${settled.quiet ? 'was quiet' : 'was still busy'} after ${(settled.waitedMs / 1000).toFixed(1)} s`);
  const thaw = await freeze(ctx);
  const undoThaw = ctx.cleanup.add('thaw the agent', thaw);
  const undoClean = ctx.cleanup.add('remove the runtime scenario pods', driver.clean);
  let starts: RuntimeStart[];
  let cpu: { busyS: number; wallS: number; baselineRate: number };
  try {
    const base0 = await machineBusy();
    await sleep(opts.baselineMs);
    const base1 = await machineBusy();
    const baselineRate = (base1.busyS - base0.busyS) / (base1.at - base0.at);
    ctx.log(`runtime: ${opts.pods} pods at ${opts.qps} pods/s straight through ${ctx.node.agent === 'splitlet' ? 'Docker' : 'containerd (CRI)'}, the agent frozen`);
    const c0 = await machineBusy();
    starts = await driver.run(opts.pods, opts.qps);
    const c1 = await machineBusy();
    cpu = { busyS: c1.busyS - c0.busyS, wallS: c1.at - c0.at, baselineRate };
  } finally {
    undoThaw();
    await thaw();
  }
  undoClean();
  await driver.clean();
  const failed = starts.filter((s) => s.error);
  const perHundred = ((cpu.busyS - cpu.baselineRate * cpu.wallS) / starts.length) * 100;
  const figures: Figure[] = [
    latencyFigure('runtime.start', `Pod start through the runtime alone, ${opts.pods} pods at ${opts.qps} pods/s`, starts.flatMap((s) => (s.totalMs === undefined ? [] : [s.totalMs])), {
      note: 'due time of the pod → its container\'s start call returned (sandbox created and started, container created and started)',
      ...(failed.length ? { failures: failed.length } : {}),
    }),
    latencyFigure('runtime.sandbox', `Sandbox ready through the runtime alone, ${opts.pods} pods at ${opts.qps} pods/s`, starts.flatMap((s) => (s.sandboxMs === undefined ? [] : [s.sandboxMs]))),
    {
      id: 'runtime.cpu',
      title: 'Machine CPU per 100 pods started through the runtime alone',
      unit: 'CPU-s',
      value: Math.round(perHundred * 10) / 10,
      note: `the whole machine's busy time over the run (${cpu.wallS.toFixed(1)} s), less the background rate measured over ${opts.baselineMs / 1000} s just before with the agent frozen (${cpu.baselineRate.toFixed(2)} CPU-s/s)`,
    },
  ];
  return {
    scenario: 'runtime',
    title: 'Runtime alone',
    figures,
    notes: [
      ctx.node.agent === 'splitlet'
        ? 'Docker through dockerode with runtime-executor\'s create bodies; the agent\'s processes were stopped (SIGSTOP) meanwhile.'
        : 'containerd through the CRI with the kubelet\'s requests (ref-critime); the kubelet was stopped (SIGSTOP) meanwhile.',
      ...failed.slice(0, 3).map((s) => `failed: ${s.error}`),
    ],
    details: { starts },
    startedAt: startedAt.toISOString(),
    durationMs: Date.now() - startedAt.getTime(),
  };
}

interface Driver {
  run(pods: number, qps: number): Promise<RuntimeStart[]>;
  clean(): Promise<void>;
}

/** Paces `pods` starts at `qps` per second, each on its own (the runtime sees them overlap as an agent's would). */
async function paced(pods: number, qps: number, start: (i: number, due: number) => Promise<RuntimeStart>): Promise<RuntimeStart[]> {
  const t0 = performance.now();
  const all: Promise<RuntimeStart>[] = [];
  for (let i = 0; i < pods; i++) {
    const due = t0 + (i * 1000) / qps;
    const wait = due - performance.now();
    if (wait > 0) await sleep(wait);
    all.push(start(i, due).catch((err: unknown) => ({ error: err instanceof Error ? err.message : String(err) })));
  }
  return Promise.all(all);
}

function dockerDriver(prefix: string): Driver {
  const docker = new Docker();
  const label = 'splitlet.bench.runtime';
  return {
    async run(pods, qps) {
      return paced(pods, qps, async (i, due) => {
        const name = `${prefix}${i}`;
        // runtime-executor's sandbox (sandboxes.ts): bridge network, shareable IPC, CPU
        // shares 2, and no DNS settings: pod-sync gives none when the cluster has no DNS
        // service (runtime-config.ts), so Docker copies the host's resolv.conf itself.
        const sandbox = await docker.createContainer({
          name: `${name}-pause`,
          Image: PAUSE,
          Hostname: name,
          Labels: { [label]: prefix },
          ExposedPorts: {},
          HostConfig: {
            NetworkMode: 'bridge',
            IpcMode: 'shareable',
            PortBindings: {},
            Dns: [],
            DnsSearch: [],
            DnsOptions: [],
            ExtraHosts: [],
            CpuShares: 2,
            RestartPolicy: { Name: 'no' },
          },
        });
        await sandbox.start();
        const sandboxMs = performance.now() - due;
        // runtime-executor's container (containers.ts): the sandbox's network and IPC namespaces.
        const c = await docker.createContainer({
          name,
          Image: TESTBOX,
          Cmd: ['sh', '-c', UNTIL_SIGTERM],
          Labels: { [label]: prefix },
          Healthcheck: { Test: ['NONE'] },
          HostConfig: {
            Binds: [],
            NetworkMode: `container:${sandbox.id}`,
            IpcMode: `container:${sandbox.id}`,
            RestartPolicy: { Name: 'no' },
            CpuShares: 2,
            Privileged: false,
            CapAdd: [],
            CapDrop: [],
            GroupAdd: [],
            ReadonlyRootfs: false,
            SecurityOpt: [],
          },
        });
        await c.start();
        return { sandboxMs, totalMs: performance.now() - due };
      });
    },
    async clean() {
      const ids = (await runCommand('docker', ['ps', '-aq', '--filter', `label=${label}=${prefix}`])).stdout.split('\n').filter(Boolean);
      if (ids.length) await runCommand('docker', ['rm', '-f', ...ids]);
    },
  };
}

async function criDriver(prefix: string): Promise<Driver> {
  const bin = labBinary('ref-critime');
  // The reference node's containerd (test/lab/reference.sh, REF_SOCK).
  const sock = process.env['LAB_REFERENCE_CRI_SOCKET'] ?? '/run/splitlet-ref/containerd.sock';
  const logs = await mkdtemp(join(tmpdir(), 'critime-'));
  return {
    async run(pods, qps) {
      const r = await runCommand(bin, ['run', '-sock', sock, '-n', String(pods), '-qps', String(qps), '-image', `docker.io/${TESTBOX}`, '-dir', logs, '-prefix', prefix]);
      if (r.code !== 0) throw new Error(`ref-critime run: ${r.stderr.trim() || `exit ${r.code}`} (the reference node's lab: npm run lab:up -- --reference)`);
      const lines = r.stdout.split('\n').filter(Boolean).map((l) => JSON.parse(l) as { index: number; sandboxMs: number; totalMs: number; error?: string });
      return lines.sort((a, b) => a.index - b.index).map((l) => (l.error ? { error: l.error } : { sandboxMs: l.sandboxMs, totalMs: l.totalMs }));
    },
    async clean() {
      await runCommand(bin, ['clean', '-sock', sock, '-prefix', prefix]);
      await rm(logs, { recursive: true, force: true });
    },
  };
}

/** Stops the node's agent (SIGSTOP its processes, `docker pause` its containers); returns the thaw. */
async function freeze(ctx: BenchContext): Promise<() => Promise<void>> {
  const where = await ctx.node.locate();
  if (!where.length) throw new Error(`no agent process or container found for node ${ctx.node.nodeName}`);
  const pids = where.flatMap((w) => ('pid' in w ? [w.pid] : []));
  const containers = where.flatMap((w) => ('container' in w ? [w.container] : []));
  for (const pid of pids) process.kill(pid, 'SIGSTOP');
  if (containers.length) await runCommand('docker', ['pause', ...containers]);
  let thawed = false;
  return async () => {
    if (thawed) return;
    thawed = true;
    for (const pid of pids) {
      try {
        process.kill(pid, 'SIGCONT');
      } catch {
        // gone meanwhile
      }
    }
    if (containers.length) await runCommand('docker', ['unpause', ...containers]);
  };
}
