import { readFile } from 'node:fs/promises';
import { join } from 'node:path';

/** /proc/meminfo under a host root ("/" on the host, a mount in a container): each field in bytes. */
export async function readMeminfo(hostRoot: string): Promise<Record<string, bigint>> {
  return parseMeminfo(await readFile(join(hostRoot, 'proc/meminfo'), 'utf8'));
}

export function parseMeminfo(text: string): Record<string, bigint> {
  const out: Record<string, bigint> = {};
  for (const line of text.split('\n')) {
    const m = /^([^:]+):\s+(\d+)(?: kB)?$/.exec(line.trim());
    if (m?.[1] && m[2]) out[m[1]] = BigInt(m[2]) * (line.includes('kB') ? 1024n : 1n);
  }
  return out;
}

/**
 * The node's memory as cAdvisor counts the root cgroup and the kubelet reports it:
 * usage ≈ MemTotal − MemFree, the working set is usage less the inactive file cache, and
 * available (the eviction signal memory.available, the Summary's availableBytes) is
 * capacity less the working set.
 */
export function nodeMemory(mem: Record<string, bigint>): { capacityBytes: bigint; usageBytes: bigint; workingSetBytes: bigint; availableBytes: bigint } {
  const capacityBytes = mem['MemTotal'] ?? 0n;
  const usageBytes = capacityBytes - (mem['MemFree'] ?? 0n);
  const inactive = mem['Inactive(file)'] ?? 0n;
  const workingSetBytes = usageBytes > inactive ? usageBytes - inactive : 0n;
  return { capacityBytes, usageBytes, workingSetBytes, availableBytes: capacityBytes - workingSetBytes };
}

/**
 * pid.available as the kubelet reads it (its rlimit stats): pid_max less the processes
 * (threads) running, the 4th field of /proc/loadavg (running/total scheduling entities).
 */
export async function nodePids(hostRoot: string): Promise<{ availablePids: bigint; maxPids: bigint }> {
  const read = (p: string) => readFile(join(hostRoot, p), 'utf8').then((t) => t.trim(), () => '');
  const maxPids = BigInt((await read('proc/sys/kernel/pid_max')) || '32768');
  const threads = BigInt(/\d+\/(\d+)/.exec(await read('proc/loadavg'))?.[1] ?? '0');
  return { availablePids: maxPids - threads, maxPids };
}

/**
 * The host's boot (/proc/sys/kernel/random/boot_id: the kernel's, the same in a
 * container): a node shutdown's state names it, and is over once the host booted again.
 */
export async function readBootId(): Promise<string> {
  return (await readFile('/proc/sys/kernel/random/boot_id', 'utf8')).trim();
}
