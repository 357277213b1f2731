import { Svcm } from '@nats-io/services';
import { type NatsConnection } from '@nats-io/transport-node';
import { createRpcClient } from '@splitlet/bus';
import { RuntimeService } from '@splitlet/contracts';
import { connectToLabBusAsOperator } from '@splitlet/testing';
import type { BenchContext } from '../context';
import { latencyFigure, type ScenarioResult } from '../result';

export interface NatsOptions {
  url: string;
  calls: number;
}

/**
 * NATS request/reply latency to the node's runtime-executor, one call at a time
 * after a warm-up: the micro service PING of that executor instance (NATS and the
 * executor's event loop only), and RuntimeService.Version and ListContainers made
 * with the client pod-sync uses (createRpcClient from libs/bus), which each add one
 * Docker API call. Measured from the harness's own NATS connection, through the
 * same NATS server as pod-sync's.
 */
export async function natsLatency(ctx: BenchContext, opts: NatsOptions): Promise<ScenarioResult> {
  const startedAt = new Date();
  // As an operator's tool: it pings the executor by id, which no service of the node may.
  const nc = await connectToLabBusAsOperator(opts.url.split(','), 'splitlet-bench');
  try {
    const runtime = createRpcClient(nc, ctx.node.nodeName, RuntimeService);
    const time = async (fn: () => Promise<unknown>) => {
      for (let i = 0; i < 10; i++) await fn();
      const samples: number[] = [];
      for (let i = 0; i < opts.calls; i++) {
        const t0 = performance.now();
        await fn();
        samples.push(performance.now() - t0);
      }
      return samples;
    };
    const id = await executorId(nc, ctx.node.nodeName);
    ctx.log(`nats: ${opts.calls} round trips each of PING (runtime-executor ${id}), Version and ListContainers`);
    const ping = await time(() => nc.request(`$SRV.PING.runtime-executor.${id}`, undefined, { timeout: 5000 }));
    const version = await time(() => runtime.version({ version: 'v1' }));
    const list = await time(() => runtime.listContainers({}));
    const round = (s: number[]) => s.map((v) => Math.round(v * 100) / 100);
    return {
      scenario: 'nats',
      title: 'NATS request/reply latency (pod-sync → runtime-executor)',
      figures: [
        { ...latencyFigure('nats.ping', 'NATS request/reply to runtime-executor (micro PING)', ping), samples: round(ping) },
        { ...latencyFigure('nats.version', 'RuntimeService.Version round trip (NATS + Docker /version)', version), samples: round(version) },
        { ...latencyFigure('nats.listContainers', 'RuntimeService.ListContainers round trip (NATS + Docker container list)', list), samples: round(list) },
      ],
      notes: [
        'This scenario reads NATS (not the API server): it needs the node\'s NATS URL (--nats-url) and measures the same client code pod-sync uses. No goal is set in the issues.',
        'Summaries are rounded to 0.1 ms.',
      ],
      startedAt: startedAt.toISOString(),
      durationMs: Date.now() - startedAt.getTime(),
    };
  } finally {
    await nc.close();
  }
}

/** The id of the node's runtime-executor micro service (its metadata names the node). */
async function executorId(nc: NatsConnection, nodeName: string): Promise<string> {
  const infos = await new Svcm(nc).client().info('runtime-executor');
  for await (const info of infos) {
    if (info.metadata?.['node'] === nodeName) return info.id;
  }
  throw new Error(`no runtime-executor of node ${nodeName} answered $SRV.INFO`);
}
