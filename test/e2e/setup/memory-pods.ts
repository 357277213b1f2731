import { readFile } from 'node:fs/promises';
import type { V1Pod } from '@kubernetes/client-node';

// The pods and the meminfo reading the memory-pressure e2e files share.

/** /proc/meminfo's fields, in bytes. */
export async function meminfo(): Promise<Record<string, bigint>> {
  const lines = (await readFile('/proc/meminfo', 'utf8')).split('\n');
  return Object.fromEntries(lines.map((l) => /^([^:]+):\s+(\d+)/.exec(l)).filter((m) => m !== null).map((m) => [m[1]!, BigInt(m[2]!) * 1024n]));
}

/** memory.available as the kubelet (and splitlet) reads it: MemTotal − (MemTotal − MemFree − Inactive(file)). */
export async function memoryAvailableNow(): Promise<bigint> {
  const mem = await meminfo();
  return (mem['MemFree'] ?? 0n) + (mem['Inactive(file)'] ?? 0n);
}

/** A BestEffort pod holding 100 MiB it touched (node's Buffer), named `hog`. */
export const memoryHog = (namespace: string, nodeName: string): V1Pod => ({
  metadata: { name: 'hog', namespace },
  spec: {
    nodeName,
    terminationGracePeriodSeconds: 30,
    containers: [{ name: 'app', image: 'splitlet-lab/node:24', command: ['node', '-e', 'const b = Buffer.alloc(100 * 2 ** 20, 1); setInterval(() => b[0]++, 1000)'] }],
  },
});

/** A Guaranteed pod (100m, 64Mi) that sleeps, named `guaranteed`. */
export const guaranteedSleeper = (namespace: string, nodeName: string): V1Pod => ({
  metadata: { name: 'guaranteed', namespace },
  spec: {
    nodeName,
    terminationGracePeriodSeconds: 30,
    containers: [{ name: 'app', image: 'splitlet-lab/testbox:1', command: ['sleep', '3600'], resources: { requests: { cpu: '100m', memory: '64Mi' }, limits: { cpu: '100m', memory: '64Mi' } } }],
  },
});
