// The splitlet node the conformance run schedules onto: the same node the e2e files
// start (libs/testing startPodTestNode: a fresh node identity minted through the CSR
// API, the six services as processes against the lab's NATS and API server, node-api
// on a free kubelet port that registrar reports), kept up until SIGTERM/SIGINT, then
// stopped and cleaned (its namespace, containers, Node object, serving CSR).
//   tsx --tsconfig conformance/tsconfig.json conformance/node.ts <node-name> <log-dir>
// Prints `ready <node-name> <kubelet-port>` on stdout once node-api serves.
import { createWriteStream } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { startPodTestNode, type ServiceName } from '@splitlet/testing';

const [nodeName, logDir] = process.argv.slice(2);
if (!nodeName || !logDir) {
  console.error('usage: node.ts <node-name> <log-dir>');
  process.exit(2);
}
await mkdir(logDir, { recursive: true });

const node = await startPodTestNode(
  { nodeName, namespace: nodeName },
  {
    prober: true,
    nodeApi: true,
    // The kubelet's own resync period, not the e2e files' 2 s: the specs measure
    // splitlet as it ships.
    env: { SPLITLET_POD_RESYNC_MS: '60000' },
  },
);

// Each service's output to its own file (the harness keeps parsed lines in memory
// only): what a failing spec's cause is read from afterwards.
for (const [name, proc] of Object.entries(node.node.procs) as [ServiceName, NonNullable<(typeof node.node.procs)[ServiceName]>][]) {
  const out = createWriteStream(join(logDir, `${name}.log`), { flags: 'a' });
  proc.child.stdout?.pipe(out);
  proc.child.stderr?.pipe(out);
}
// The harness also keeps every parsed line in memory (for waitForLog); over an hour's
// run that only grows, and nothing here waits on a log line any more.
setInterval(() => {
  for (const proc of Object.values(node.node.procs)) proc?.logs.splice(0);
}, 30_000).unref();
process.stdout.write(`ready ${nodeName} ${node.kubeletPort ?? ''}\n`);

let stopping = false;
async function stop(): Promise<void> {
  if (stopping) return;
  stopping = true;
  await node.stop();
  process.exit(0);
}
process.on('SIGTERM', () => void stop());
process.on('SIGINT', () => void stop());
