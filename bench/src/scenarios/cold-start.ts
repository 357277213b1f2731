import type { NatsConnection } from '@nats-io/transport-node';
import { connectToLabBusAsOperator, labEnv, mintNodeKubeconfig, testNode, type ServiceName } from '@splitlet/testing';
import type { BenchContext } from '../context';
import { randomSuffix, sleep } from '../kube';
import { latencyFigure, type Figure, type ScenarioResult } from '../result';

export interface ColdStartOptions {
  /** Starts of each service. */
  starts: number;
}

const SERVICES: ServiceName[] = ['runtime-executor', 'registrar', 'pod-sync', 'prober', 'status-reporter', 'node-api'];

/**
 * Cold start (issue 17): from the exec of a service's process to its NATS micro
 * endpoint answering PING, each service `starts` times, then the all-in-one process
 * until all five pod services answer. Each start is a new process with tracing on,
 * as in production, for a node of its own (`cold-<hex>`, its own identity), killed once
 * it answered; nothing else of that node runs, so a service starts as after a crash.
 * The files (node, the bundle) are in the page cache after the first start: this is a
 * restart's cold start, not a first boot's.
 */
export async function coldStart(ctx: BenchContext, opts: ColdStartOptions): Promise<ScenarioResult> {
  const startedAt = new Date();
  const lab = labEnv();
  const nodeName = `cold-${randomSuffix()}`;
  const node = testNode(nodeName, await mintNodeKubeconfig(nodeName), { SPLITLET_PAUSE_IMAGE: process.env['SPLITLET_PAUSE_IMAGE'] ?? 'splitlet-lab/pause:1' });
  ctx.cleanup.add(`cold-start node ${nodeName}`, async () => {
    await node.stopAll();
    await ctx.cluster.core.deleteNode({ name: nodeName }).catch(() => undefined);
  });
  const nc = await connectToLabBusAsOperator(lab.natsUrl.split(','), 'splitlet-bench-cold-start');
  const figures: Figure[] = [];
  try {
    for (const service of SERVICES) {
      const samples: number[] = [];
      for (let i = 0; i < opts.starts; i++) {
        const t0 = performance.now();
        const starting = node.start(service).catch(() => undefined); // resolves at its 'started' line; the PING comes first
        await answered(nc, [service], nodeName, 15_000);
        samples.push(performance.now() - t0);
        await starting;
        await node.stop(service, 'SIGKILL');
      }
      ctx.log(`cold-start: ${service} p50 ${median(samples).toFixed(0)} ms`);
      figures.push(latencyFigure(`cold-start.${service}`, `Cold start, exec → PING answered: ${service}`, samples, { goals: [{ stat: 'p50', max: 250, source: '#17' }] }));
    }
    const samples: number[] = [];
    const five = SERVICES.filter((s) => s !== 'node-api');
    for (let i = 0; i < opts.starts; i++) {
      const t0 = performance.now();
      const starting = node.startTogether(five).catch(() => undefined);
      await answered(nc, five, nodeName, 15_000);
      samples.push(performance.now() - t0);
      await starting;
      await node.stop('registrar', 'SIGKILL');
    }
    ctx.log(`cold-start: all-in-one p50 ${median(samples).toFixed(0)} ms`);
    figures.push(latencyFigure('cold-start.all-in-one', 'Cold start, exec → PING answered: the all-in-one process, all five services', samples));
  } finally {
    await nc.close();
    await node.stopAll();
    await ctx.cluster.core.deleteNode({ name: nodeName }).catch(() => undefined);
  }
  return {
    scenario: 'cold-start',
    title: 'Cold start',
    figures,
    notes: [
      'From the spawn of `node --max-semi-space-size=2 --require <service>/instrumentation.js <service>/main.js` (tracing on) to the first PING answer of that service for this node, polled every ~5 ms by the harness over NATS.',
      'PING answers once the service is connected to NATS and has added its micro service, before its own parts are wired (a watch listed, a stream consumed).',
    ],
    startedAt: startedAt.toISOString(),
    durationMs: Date.now() - startedAt.getTime(),
  };
}

/** Waits until each service answers PING for this node (its micro service's metadata). */
async function answered(nc: NatsConnection, services: string[], nodeName: string, timeoutMs: number): Promise<void> {
  const waiting = new Set(services);
  const deadline = Date.now() + timeoutMs;
  while (waiting.size) {
    if (Date.now() > deadline) throw new Error(`no PING answer from ${[...waiting].join(', ')} of ${nodeName} within ${timeoutMs} ms`);
    await Promise.all(
      [...waiting].map(async (s) => {
        const replies = await nc.requestMany(`$SRV.PING.${s}`, undefined, { maxWait: 5, strategy: 'timer' }).catch(() => undefined);
        for await (const m of replies ?? []) {
          if (!m.data.length) continue; // no responders (yet)
          const ping = m.json<{ metadata?: Record<string, string> }>();
          if (ping.metadata?.['node'] === nodeName) waiting.delete(s);
        }
      }),
    ).catch(() => sleep(5));
  }
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? Number.NaN;
