// Probe precision of the real prober bundle: 100 fake pods × 3 probes (httpGet and
// tcpSocket mixed, periods 1-10 s) against local servers that timestamp every probe,
// over a real NATS (the lab's by default), for BENCH_SECONDS (60). Reports the
// p50/p99/max of |achieved interval − periodSeconds| and the prober's CPU and RSS
// (from /proc), and writes bench/results/prober-precision.json.
//
//   node tools/build-service.mjs prober && npx tsx bench/prober-precision.ts
//   (or: npm run bench:prober)
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { createServer as createHttpServer } from 'node:http';
import { createServer as createTcpServer, type AddressInfo, type Server } from 'node:net';
import { cpus, loadavg, totalmem } from 'node:os';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { join } from 'node:path';
import { create, toBinary, type MessageInitShape } from '@bufbuild/protobuf';
import { Kvm } from '@nats-io/kv';
import { podsViewBucket, probeResultsBucket, proberReplicasBucket } from '@splitlet/bus';
import { PodProbeViewSchema, type ProbeSchema } from '@splitlet/contracts';
import { connectToLabBusAsOperator, labBusEnv, removeLabNodeCreds } from '@splitlet/testing';

const ROOT = join(import.meta.dirname, '..');
const NATS_URL = process.env['NATS_URL'] ?? 'nats://127.0.0.1:4222';
const SECONDS = Number(process.env['BENCH_SECONDS'] ?? 60);
const PODS = 100;
const NODE = `bench-prober-${randomBytes(3).toString('hex')}`;
const CLK_TCK = 100; // getconf CLK_TCK on Linux x86-64
const GOAL_P99_MS = 100;

/** Probe id → hit times (performance.now(), ms) and its period. */
const hits = new Map<string, number[]>();
const periods = new Map<string, number>();
const hit = (id: string) => hits.get(id)?.push(performance.now());

async function main(): Promise<void> {
  // One HTTP server for every httpGet probe (the path names the probe); one TCP port per tcpSocket probe.
  const http = createHttpServer((req, res) => {
    hit(decodeURIComponent((req.url ?? '').slice(1)));
    res.end('ok');
  });
  await listen(http);
  const httpPort = (http.address() as AddressInfo).port;
  const tcpServers: Server[] = [];

  // As an operator's tool: it writes the pods view in pod-sync's place and removes the buckets after.
  const nc = await connectToLabBusAsOperator(NATS_URL, 'splitlet-bench-prober');
  const kvm = new Kvm(nc);
  const pods = await kvm.create(podsViewBucket(NODE), { history: 1 });
  try {
    const now = BigInt(Date.now()) * 1_000_000n;
    let n = 0;
    for (let i = 0; i < PODS; i++) {
      const uid = `bench-${String(i).padStart(3, '0')}`;
      const probe = async (container: string, kind: string): Promise<MessageInitShape<typeof ProbeSchema>> => {
        const id = `${uid}/${container}/${kind}`;
        const periodSeconds = 1 + (n % 10);
        const tcp = n++ % 2 === 1;
        hits.set(id, []);
        periods.set(id, periodSeconds * 1000);
        const timing = { periodSeconds, timeoutSeconds: 1, successThreshold: 1, failureThreshold: 3 };
        if (!tcp) return { ...timing, handler: { case: 'httpGet', value: { port: httpPort, path: `/${encodeURIComponent(id)}` } } };
        const s = createTcpServer((sock) => {
          hit(id);
          sock.destroy();
        });
        await listen(s);
        tcpServers.push(s);
        return { ...timing, handler: { case: 'tcpSocket', value: { port: (s.address() as AddressInfo).port } } };
      };
      const view = create(PodProbeViewSchema, {
        podUid: uid,
        name: uid,
        namespace: 'bench',
        podIp: '127.0.0.1',
        restartPolicy: 'Always',
        version: 1n,
        containers: [
          { name: 'app', containerId: `${uid}-app`, running: true, started: true, startedAt: now, liveness: await probe('app', 'liveness'), readiness: await probe('app', 'readiness') },
          { name: 'side', containerId: `${uid}-side`, running: true, started: true, startedAt: now, readiness: await probe('side', 'readiness') },
        ],
      });
      await pods.put(uid, toBinary(PodProbeViewSchema, view));
    }

    // BENCH_NODE_ARGS: extra node flags for the prober (e.g. --max-old-space-size=64 to tell a leak from a lazy GC).
    const nodeArgs = (process.env['BENCH_NODE_ARGS'] ?? '').split(' ').filter(Boolean);
    const child = spawn(process.execPath, [...nodeArgs, '--require', join(ROOT, 'services/prober/dist/instrumentation.js'), join(ROOT, 'services/prober/dist/main.js')], {
      env: { PATH: process.env['PATH'] ?? '', ...(await labBusEnv(NODE, 'prober')), NATS_URL, SPLITLET_NODE_NAME: NODE, OTEL_SDK_DISABLED: 'true', LOG_LEVEL: 'warn', SPLITLET_PROBER_REPLICA_ID: 'bench' },
      stdio: ['ignore', 'inherit', 'inherit'],
    });
    const pid = child.pid!;
    const samples: { t: number; cpuTicks: number; rssKiB: number }[] = [];
    let exited: number | null = null;
    child.once('exit', (code) => (exited = code ?? -1));
    const sample = () => {
      if (exited !== null) return;
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      const cpuTicks = Number(fields[11]) + Number(fields[12]); // utime + stime
      const rssKiB = Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0);
      samples.push({ t: performance.now(), cpuTicks, rssKiB });
    };
    const started = performance.now();
    // The bench's own event-loop delay: how late the measuring side itself may be (the machine's noise floor).
    const ownDelay = monitorEventLoopDelay({ resolution: 10 });
    ownDelay.enable();
    const loads: number[] = [];
    const sampler = setInterval(() => {
      sample();
      loads.push(loadavg()[0]!);
    }, 1000);
    await new Promise((r) => setTimeout(r, SECONDS * 1000));
    clearInterval(sampler);
    ownDelay.disable();
    sample();
    if (exited === null) {
      child.kill('SIGTERM');
      await new Promise((r) => child.once('exit', r));
    } else console.error(`the prober exited early (code ${exited})`);

    // Deviations of every achieved interval; the first 10 s (start-up, first-probe jitter) are left out of CPU.
    const deviations: number[] = [];
    const byPeriod = new Map<number, number[]>();
    for (const [id, times] of hits) {
      const period = periods.get(id)!;
      for (let i = 1; i < times.length; i++) {
        const d = Math.abs(times[i]! - times[i - 1]! - period);
        deviations.push(d);
        byPeriod.set(period / 1000, [...(byPeriod.get(period / 1000) ?? []), d]);
      }
    }
    deviations.sort((a, b) => a - b);
    if (process.env['BENCH_DEBUG']) {
      const signed: { at: number; d: number; id: string }[] = [];
      for (const [id, times] of hits) for (let i = 1; i < times.length; i++) signed.push({ at: Math.round((times[i]! - started) / 100) / 10, d: Math.round(times[i]! - times[i - 1]! - periods.get(id)!), id });
      console.error(JSON.stringify(signed.filter((x) => Math.abs(x.d) > 50)));
    }
    const steady = samples.filter((s) => s.t - started >= 10_000);
    const first = steady[0]!;
    const last = steady.at(-1)!;
    const cpuPercent = ((last.cpuTicks - first.cpuTicks) / CLK_TCK / ((last.t - first.t) / 1000)) * 100;
    const rss = samples.map((s) => s.rssKiB / 1024);
    const result = {
      benchmark: 'prober-precision',
      date: new Date().toISOString(),
      machine: {
        cpu: cpus()[0]?.model ?? 'unknown',
        cores: cpus().length,
        memoryGiB: Math.round(totalmem() / 2 ** 30),
        node: process.version,
        // Shared with other work: the 1-minute load average during the run, and the bench's own event-loop delay.
        loadAverage1m: { min: round(Math.min(...loads)), max: round(Math.max(...loads)) },
        benchEventLoopDelayMs: { p99: round(ownDelay.percentile(99) / 1e6), max: round(ownDelay.max / 1e6) },
      },
      setup: { pods: PODS, probes: hits.size, http: [...periods.keys()].length - tcpServers.length, tcp: tcpServers.length, periodsSeconds: '1-10', durationSeconds: SECONDS, nats: NATS_URL },
      intervals: deviations.length,
      probesMissing: [...hits.values()].filter((t) => t.length < 2).length,
      deviationMs: { p50: round(pct(deviations, 0.5)), p90: round(pct(deviations, 0.9)), p99: round(pct(deviations, 0.99)), max: round(deviations.at(-1) ?? NaN) },
      p99ByPeriodSeconds: Object.fromEntries([...byPeriod].sort((a, b) => a[0] - b[0]).map(([p, d]) => [p, round(pct(d.sort((a, b) => a - b), 0.99))])),
      goalP99Ms: GOAL_P99_MS,
      goalMet: pct(deviations, 0.99) <= GOAL_P99_MS,
      prober: {
        cpuPercentOfOneCore: round(cpuPercent),
        rssMiB: { avg: round(rss.reduce((a, b) => a + b, 0) / rss.length), max: round(Math.max(...rss)), every10s: rss.filter((_, i) => i % 10 === 9).map(round) },
      },
    };
    mkdirSync(join(ROOT, 'bench/results'), { recursive: true });
    writeFileSync(join(ROOT, 'bench/results/prober-precision.json'), `${JSON.stringify(result, null, 2)}\n`);
    console.log(JSON.stringify(result, null, 2));

  } finally {
    // Leave nothing behind in the (shared) NATS.
    for (const b of [podsViewBucket(NODE), probeResultsBucket(NODE), proberReplicasBucket(NODE)]) {
      await kvm
        .open(b)
        .then((kv) => kv.destroy())
        .catch(() => undefined);
    }
    await nc.close();
    await removeLabNodeCreds(NODE);
    http.close();
    for (const s of tcpServers) s.close();
  }
}

const pct = (sorted: number[], q: number): number => sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)] ?? NaN;
const round = (v: number): number => Math.round(v * 10) / 10;
const listen = (s: { listen: (port: number, host: string, cb: () => void) => unknown }) => new Promise<void>((r) => s.listen(0, '127.0.0.1', r));

await main();
