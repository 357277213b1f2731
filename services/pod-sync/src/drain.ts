import { readFile } from 'node:fs/promises';
import { Command } from 'commander';
import { connectBus, createRpcClient, isBusError, NODE_SHUTDOWN_KEY, nodeStateBucket, openBucket, watchBucket } from '@splitlet/bus';
import { OPERATOR_INBOX_PREFIX } from '@splitlet/bus-auth';
import { podsyncv1 } from '@splitlet/contracts';
import { createLogger } from '@splitlet/telemetry';
import type { NodeShutdownState } from './node-shutdown';

// `npm run node:drain` (scripts/node.sh drain): the node's graceful shutdown, asked of
// pod-sync with an operator's bus identity (no service of the node may ask it), then
// followed in the node's bucket until every priority group is done. `--cancel` ends it.

const program = new Command()
  .name('node-drain')
  .description("shut the node down gracefully: new pods are refused and the running ones terminated by priority (the kubelet's GracefulNodeShutdown); the node turns NotReady")
  .option('--node <name>', 'the node', process.env['SPLITLET_NODE_NAME'])
  .option('--servers <urls>', 'NATS, comma-separated', process.env['NATS_URL'] ?? 'nats://127.0.0.1:4222')
  .option('--creds <file>', "an operator's .creds (tools/bus-creds mint-operator)", process.env['SPLITLET_NATS_OPERATOR_CREDS'])
  .option('--ca <file>', "the CA of NATS's certificate", process.env['SPLITLET_NATS_CA'])
  .option('--cancel', 'cancel the shutdown: pods are admitted again (those terminated stay so)')
  .option('--no-wait', 'return once the shutdown began');

const o = program.parse().opts<{ node?: string; servers: string; creds?: string; ca?: string; cancel?: boolean; wait: boolean }>();
const node: string = o.node || program.error('--node (or SPLITLET_NODE_NAME) is required');
const logger = createLogger('node-drain', { level: 'warn' });
const nc = await connectBus({
  servers: o.servers.split(','),
  name: `node-drain-${node}`,
  logger,
  inboxPrefix: OPERATOR_INBOX_PREFIX,
  ...(o.creds ? { creds: await readFile(o.creds) } : {}),
  ...(o.ca ? { caFile: o.ca } : {}),
});
const client = createRpcClient(nc, node, podsyncv1.NodeShutdownService, { timeoutMs: 30_000 });
const say = (line: string) => process.stdout.write(`[node-drain] ${line}\n`);
const describe = (s: NodeShutdownState) =>
  s.groups.map((g) => `priority ≥ ${g.priority}: ${g.gracePeriodSeconds} s, ${g.doneAt > 0n ? `${g.pods} pod(s) terminated` : 'terminating'}`).join('; ') || 'no grace period: nothing to terminate';

try {
  if (o.cancel) {
    const { cancelled } = await client.cancelShutdown({});
    say(cancelled ? `node ${node}: shutdown cancelled; pods are admitted again` : `node ${node} was not shutting down`);
  } else {
    const { state } = await client.shutdown({});
    say(`node ${node} is shutting down (since ${new Date(Number(state!.startedAt)).toISOString()}): new pods are refused`);
    let finished = state!.finishedAt > 0n;
    if (o.wait && !finished) {
      const kv = await openBucket(nc, nodeStateBucket(node));
      const ac = new AbortController();
      let last = '';
      await watchBucket(
        kv,
        podsyncv1.NodeShutdownStateSchema,
        (_key, value) => {
          if (!value) {
            ac.abort();
            return;
          }
          const now = describe(value);
          if (now !== last) say((last = now));
          if (value.finishedAt > 0n) {
            finished = true;
            ac.abort();
          }
        },
        { logger, signal: ac.signal, key: NODE_SHUTDOWN_KEY },
      );
    }
    if (finished) say(`node ${node}: every pod is terminated; the host may shut down`);
    else if (o.wait) {
      process.stderr.write('[node-drain] the shutdown was cancelled, or its state could not be followed to its end\n');
      process.exitCode = 1;
    }
  }
} catch (err) {
  const why = isBusError(err) && err.kind === 'no-responders' ? `no pod-sync answers for node ${node}` : (err as Error).message;
  process.stderr.write(`[node-drain] ${why}\n`);
  process.exitCode = 1;
} finally {
  await nc.close();
}
