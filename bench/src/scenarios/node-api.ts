import { labBinary, runCommand } from '@splitlet/testing';
import { deleteAndWait, withNamespace, type BenchContext } from '../context';
import { allRunning, benchPod, isReady, sleep, UNTIL_SIGTERM } from '../kube';
import { download, openPortForward, runTimed } from '../kubectl';
import { cpuPercent, cpuTicks, mibPerSecond, ProcessUsage, rssKiB, ticksPerSecond } from '../proc';
import { judge, latencyFigure, type Figure, type ScenarioResult } from '../result';
import { median } from '../stats';

export interface NodeApiOptions {
  /** `kubectl exec <pod> -- true` runs measured (after WARM_UP_EXECS not counted). */
  execs: number;
  /** MiB a container writes to stdout for `kubectl logs` to read. */
  logMiB: number;
  /** Bytes per log line, newline included: Docker's json-file log costs per line, so this moves the figure. */
  logLineBytes: number;
  /** MiB of the blob downloaded through `kubectl port-forward`. */
  forwardMiB: number;
  /** How many times each transfer runs (the median is reported). */
  transfers: number;
  windowMs: number;
  settleMs: number;
  timeoutMs: number;
}

/** Runs before the measured ones: the first exec pays node-api's SubjectAccessReview (then cached 5 min, as the kubelet does) and a cold kubectl. */
const WARM_UP_EXECS = 3;
const LOG_END = 'done\n';

/**
 * node-api, the kubelet's HTTPS API (issue 15), as kubectl users meet it: every request
 * goes kubectl → API server → the node's kubelet port (the address and port registrar
 * reports), where node-api authenticates it, authorizes it with a SubjectAccessReview
 * and forwards it over NATS to runtime-executor (logs) or to its streaming server
 * (exec, port-forward). Measured: the `kubectl exec <pod> -- true` round trip (the
 * kubectl process's wall time), `kubectl logs` of a known volume (the kubectl process's
 * wall time), an HTTP download through `kubectl port-forward` (from the request to the
 * last byte, the forward already open), and node-api's own RSS and CPU from /proc,
 * idle and during each of the three.
 */
export async function nodeApi(ctx: BenchContext, opts: NodeApiOptions): Promise<ScenarioResult> {
  const startedAt = new Date();
  // A whole number of lines in a MiB, and no line Docker splits (it cuts at 16 KiB).
  if (!(opts.logLineBytes >= 2 && opts.logLineBytes <= 16384 && 1048576 % opts.logLineBytes === 0)) {
    throw new Error(`a log line of ${opts.logLineBytes} bytes: want a power of two from 2 to 16384`);
  }
  const pid = await nodeApiPid(ctx);
  const kubectl = labBinary('kubectl');
  const kc = ['--kubeconfig', ctx.cluster.kubeconfig];
  const kubectlVersion = await runCommand(kubectl, ['version', '--client', '-o', 'json']).then((r) => {
    try {
      return (JSON.parse(r.stdout) as { clientVersion?: { gitVersion?: string } }).clientVersion?.gitVersion ?? 'unknown';
    } catch {
      return 'unknown';
    }
  });

  ctx.log(`node-api: idle (pid ${pid}; settle ${opts.settleMs / 1000} s, measure ${opts.windowMs / 1000} s)`);
  await sleep(opts.settleMs);
  const hz = await ticksPerSecond();
  const t0Ticks = await cpuTicks(pid);
  const t0 = performance.now();
  await sleep(opts.windowMs);
  const idleCpu = cpuPercent((await cpuTicks(pid)) - t0Ticks, hz, (performance.now() - t0) / 1000);
  const idleRss = Math.round(((await rssKiB(pid)) / 1024) * 10) / 10;

  const figures: Figure[] = [];
  const details: Record<string, unknown> = { kubectlVersion, nodeApiPid: pid };
  const serving: { what: string; usage: Awaited<ReturnType<ProcessUsage['stop']>> }[] = [];
  const whileServing = async <T>(what: string, fn: () => Promise<T>): Promise<T> => {
    const usage = new ProcessUsage(pid);
    await usage.start();
    try {
      return await fn();
    } finally {
      serving.push({ what, usage: await usage.stop() });
    }
  };

  await withNamespace(ctx, 'node-api', async (ns) => {
    const logLines = (opts.logMiB * 1048576) / opts.logLineBytes;
    const logBytes = opts.logMiB * 1048576 + LOG_END.length;
    const forwardBytes = opts.forwardMiB * 1048576;
    const logs = opts.logMiB > 0 && opts.transfers > 0;
    const forwards = opts.forwardMiB > 0 && opts.transfers > 0;
    const pods: string[] = [];
    const create = async (name: string, script: string, probe?: string[]) => {
      pods.push(name);
      await ns.create(benchPod(name, ctx.node.nodeName, script, probe ? { readinessProbeCommand: probe } : {}));
    };
    if (opts.execs) await create('exec-target', UNTIL_SIGTERM);
    // Writes the volume, then a last line the harness waits for, then runs on (an exit would restart it and write it again).
    if (logs) await create('log-writer', `line=$(head -c ${opts.logLineBytes - 1} /dev/zero | tr '\\0' x); yes "$line" | head -n ${logLines}; printf '${LOG_END.replace('\n', '\\n')}'; ${UNTIL_SIGTERM}`);
    // busybox httpd on the pod's loopback (port-forward reaches it inside the sandbox's network namespace); Ready once it listens.
    if (forwards) {
      await create(
        'served',
        `mkdir -p /www && head -c ${forwardBytes} /dev/zero > /www/blob && trap "exit 0" TERM; httpd -f -p 127.0.0.1:8080 -h /www & wait`,
        ['sh', '-c', 'netstat -ltn | grep -q 127.0.0.1:8080'],
      );
    }
    const ready = (name: string) => ns.tracker.first(name, (e) => e.type !== 'DELETED' && allRunning(e.pod) && (name !== 'served' || isReady(e.pod)), opts.timeoutMs);
    for (const name of pods) {
      if (!(await ready(name))) throw new Error(`pod ${name} did not run (and serve) within ${opts.timeoutMs / 1000} s`);
    }
    if (logs) {
      // The container's stdout reaches Docker's log a moment after it was written: wait for the last line
      // before measuring anything (Docker writing the log would slow every figure down).
      const deadline = Date.now() + opts.timeoutMs;
      for (;;) {
        const tail = await runCommand(kubectl, [...kc, '-n', ns.name, 'logs', 'log-writer', '--tail=1']);
        if (tail.stdout === LOG_END) break;
        if (Date.now() > deadline) throw new Error(`log-writer's log did not end in "done" within ${opts.timeoutMs / 1000} s`);
        await sleep(1000);
      }
    }

    if (opts.execs) {
      ctx.log(`node-api: ${WARM_UP_EXECS} + ${opts.execs} × kubectl exec exec-target -- true`);
      const exec = () => runTimed(kubectl, [...kc, '-n', ns.name, 'exec', 'exec-target', '--', 'true'], opts.timeoutMs);
      for (let i = 0; i < WARM_UP_EXECS; i++) await exec();
      const samples: number[] = [];
      const errors: string[] = [];
      await whileServing('exec', async () => {
        for (let i = 0; i < opts.execs; i++) {
          const r = await exec();
          if (r.code === 0) samples.push(r.ms);
          else errors.push(`exit ${r.code}: ${r.stderr.trim().slice(0, 200)}`);
        }
      });
      figures.push({
        ...latencyFigure('nodeapi.exec', '`kubectl exec <pod> -- true` round trip (kubectl process wall time)', samples, errors.length ? { failures: errors.length } : {}),
        samples: samples.map((s) => Math.round(s * 10) / 10),
      });
      if (errors.length) details['execErrors'] = errors.slice(0, 5);
    }

    if (logs) {
      ctx.log(`node-api: ${opts.transfers} × kubectl logs of ${opts.logMiB} MiB`);
      const rates: number[] = [];
      const errors: string[] = [];
      await whileServing('logs', async () => {
        for (let i = 0; i < opts.transfers; i++) {
          const r = await runTimed(kubectl, [...kc, '-n', ns.name, 'logs', 'log-writer'], opts.timeoutMs);
          if (r.code === 0 && r.bytes === logBytes) rates.push(mibPerSecond(r.bytes, r.ms));
          else errors.push(`exit ${r.code}, ${r.bytes} of ${logBytes} bytes: ${r.stderr.trim().slice(0, 200)}`);
        }
      });
      const shape = `${opts.logMiB} MiB log, ${opts.logLineBytes}-byte lines`;
      figures.push(throughputFigure('nodeapi.logs', `\`kubectl logs\` of a ${shape} (kubectl process wall time)`, rates, errors.length));
      if (errors.length) details['logErrors'] = errors.slice(0, 5);
      // The same log straight from Docker, for scale: what this machine gives without the node and the API server.
      const id = (await ctx.cluster.core.readNamespacedPod({ namespace: ns.name, name: 'log-writer' })).status?.containerStatuses?.[0]?.containerID?.replace(/^docker:\/\//, '');
      const direct: number[] = [];
      for (let i = 0; id && i < opts.transfers; i++) {
        const d = await runTimed('docker', ['logs', id], opts.timeoutMs);
        if (d.code === 0 && d.bytes === logBytes) direct.push(mibPerSecond(d.bytes, d.ms));
      }
      figures.push(throughputFigure('nodeapi.logs.docker', `for scale: \`docker logs\` of the same ${shape} (no node, no API server)`, direct, opts.transfers - direct.length));
    }

    if (forwards) {
      ctx.log(`node-api: ${opts.transfers} × GET of ${opts.forwardMiB} MiB through kubectl port-forward`);
      const forward = await openPortForward(kubectl, [...kc, '-n', ns.name, 'port-forward', 'pod/served', ':8080'], 8080, opts.timeoutMs);
      // A SIGTERM to the harness alone would leave it forwarding.
      const unregister = ctx.cleanup.add('kubectl port-forward', forward.close);
      const rates: number[] = [];
      const errors: string[] = [];
      try {
        await whileServing('port-forward', async () => {
          for (let i = 0; i < opts.transfers; i++) {
            const r = await download(forward.localPort, '/blob', opts.timeoutMs).catch((err: unknown) => ({ status: 0, bytes: 0, ms: 0, error: String(err) }));
            if (r.status === 200 && r.bytes === forwardBytes) rates.push(mibPerSecond(r.bytes, r.ms));
            else errors.push(`HTTP ${r.status}, ${r.bytes} of ${forwardBytes} bytes${'error' in r ? `: ${r.error}` : ''}; kubectl said: ${forward.output().slice(-300)}`);
          }
        });
      } finally {
        unregister();
        await forward.close();
      }
      figures.push(throughputFigure('nodeapi.portforward', `HTTP download of ${opts.forwardMiB} MiB through \`kubectl port-forward\` (request → last byte)`, rates, errors.length));
      if (errors.length) details['portForwardErrors'] = errors.slice(0, 5);
    }
    await deleteAndWait(ctx, ns, pods);
  });

  const cpuOf = (what: string) => serving.find((s) => s.what === what)?.usage;
  const usageFigures: Figure[] = [
    judge({ id: 'nodeapi.idle.rss', title: 'node-api RSS, idle', unit: 'MiB', value: idleRss }),
    judge({ id: 'nodeapi.idle.cpu', title: 'node-api CPU, idle', unit: '% of a core', value: idleCpu }),
  ];
  if (serving.length) {
    usageFigures.push(judge({ id: 'nodeapi.serving.rss', title: `node-api RSS, peak while serving (${serving.map((s) => s.what).join(', ')})`, unit: 'MiB', value: Math.max(...serving.map((s) => s.usage.peakRssMiB)) }));
  }
  for (const [what, title] of [['exec', 'the kubectl exec runs'], ['logs', 'kubectl logs'], ['port-forward', 'the port-forward downloads']] as const) {
    const u = cpuOf(what);
    if (u) usageFigures.push(judge({ id: `nodeapi.${what.replace('-', '')}.cpu`, title: `node-api CPU during ${title}`, unit: '% of a core', value: u.cpuPercent }));
  }
  details['serving'] = serving;
  return {
    scenario: 'node-api',
    title: 'node-api (kubectl exec, logs, port-forward)',
    figures: [...figures, ...usageFigures],
    notes: [
      `Every request goes kubectl (${kubectlVersion}) → API server → node-api on the node's kubelet port (SPDY from the API server, whatever kubectl spoke to it) → runtime-executor over NATS or its streaming server.`,
      `Exec: the wall time of the kubectl process (start, kubeconfig, the pod GET, the upgraded exec, \`true\`, the exit status), one at a time after ${WARM_UP_EXECS} runs not counted.`,
      `Logs: the wall time of the kubectl process reading the whole log (${opts.logMiB} MiB of ${opts.logLineBytes}-byte lines), every byte counted; the median of ${opts.transfers} runs (samples beside it). Docker's json-file driver stores and decodes each line as a JSON object, so its per-line cost bounds the figure: \`docker logs\` of the same container, read as often, is the machine's ceiling.`,
      `Port-forward: busybox httpd on the pod's 127.0.0.1 serves a ${opts.forwardMiB} MiB file; one \`kubectl port-forward\`, ${opts.transfers} downloads one after another, each from its request to its last byte (the forward already open); the median.`,
      `node-api's RSS (VmRSS) and CPU (utime+stime, % of one core) from /proc/<pid>: idle over ${opts.windowMs / 1000} s after ${opts.settleMs / 1000} s of settling, and over each part while it ran (RSS sampled every 100 ms, the peak). kubectl, the API server, runtime-executor and Docker share the same cores.`,
      'No goal is set in the issues for these figures (the kubelet has none either).',
    ],
    details,
    startedAt: startedAt.toISOString(),
    durationMs: Date.now() - startedAt.getTime(),
  };
}

function throughputFigure(id: string, title: string, rates: number[], failures: number): Figure {
  return judge({
    id,
    title,
    unit: 'MiB/s',
    ...(rates.length ? { value: median(rates) } : { na: `no transfer completed (${failures} failed)` }),
    samples: rates,
    ...(failures ? { failures } : {}),
  });
}

/** node-api's process id: a process of the harness's node, or the main process of a compose node's container. */
async function nodeApiPid(ctx: BenchContext): Promise<number> {
  const loc = (await ctx.node.locate()).find((l) => l.service === 'node-api');
  if (!loc) throw new Error(`node ${ctx.node.nodeName} runs no node-api (kubectl logs, exec and port-forward need it)`);
  if ('pid' in loc) return loc.pid;
  const pid = Number((await runCommand('docker', ['inspect', '-f', '{{.State.Pid}}', loc.container])).stdout.trim());
  if (!(pid > 0)) throw new Error(`cannot find the process of node-api's container ${loc.container}`);
  return pid;
}
