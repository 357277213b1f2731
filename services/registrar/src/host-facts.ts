import { readFile } from 'node:fs/promises';
import { lookup } from 'node:dns/promises';
import { arch, cpus, hostname, networkInterfaces, platform, release } from 'node:os';
import { join } from 'node:path';
import { nodeMemory, nodePids, readMeminfo } from '@splitlet/service';

/** What the node agent knows of its machine (the kubelet gets it from cadvisor). */
export interface HostFacts {
  hostname: string;
  internalIP: string;
  os: string;
  architecture: string;
  kernelVersion: string;
  osImage: string;
  machineID: string;
  systemUUID: string;
  bootID: string;
  cpuCores: number;
  memoryBytes: bigint;
}

/** Measurements behind the pressure conditions, taken on every status update. */
export interface HostMeasurements {
  /** memory.available = capacity - working set, as the kubelet's eviction manager reads it. */
  memoryAvailableBytes: bigint;
  memoryCapacityBytes: bigint;
  /** pid.available = pid_max - running processes (threads). */
  pidAvailable: bigint;
  pidMax: bigint;
}

const GO_ARCH: Record<string, string> = { x64: 'amd64', arm64: 'arm64', arm: 'arm', ppc64: 'ppc64le', s390x: 's390x', riscv64: 'riscv64' };

/** The architecture in Go's words (GOARCH), as Kubernetes labels and nodeInfo use it. */
export const goArch = (): string => GO_ARCH[arch()] ?? arch();

const readTrim = async (path: string) => (await readFile(path, 'utf8').catch(() => '')).trim();

/** Reads the host's facts under hostRoot ("/" on the host, a mount in a container). */
export async function readHostFacts(hostRoot: string, nodeIP?: string): Promise<HostFacts> {
  const osRelease = await readTrim(join(hostRoot, 'etc/os-release'));
  const pretty = /^PRETTY_NAME="?([^"\n]*)"?$/m.exec(osRelease)?.[1] ?? 'Linux';
  const mem = await readMeminfo(hostRoot);
  const name = hostname().toLowerCase();
  return {
    hostname: name,
    internalIP: nodeIP ?? (await detectNodeIP(name, hostRoot)),
    os: platform(),
    architecture: goArch(),
    kernelVersion: release(),
    osImage: pretty,
    machineID: await readTrim(join(hostRoot, 'etc/machine-id')),
    // cadvisor reads the DMI product UUID; machines without DMI (many VMs) have none.
    systemUUID: (await readTrim(join(hostRoot, 'sys/class/dmi/id/product_uuid'))).toLowerCase(),
    bootID: await readTrim(join(hostRoot, 'proc/sys/kernel/random/boot_id')),
    cpuCores: cpus().length,
    memoryBytes: mem['MemTotal'] ?? 0n,
  };
}

/** Takes the measurements the pressure conditions need. */
export async function measureHost(hostRoot: string): Promise<HostMeasurements> {
  const { capacityBytes: total, availableBytes: available } = nodeMemory(await readMeminfo(hostRoot));
  const { availablePids, maxPids } = await nodePids(hostRoot);
  return { memoryAvailableBytes: available, memoryCapacityBytes: total, pidAvailable: availablePids, pidMax: maxPids };
}

/**
 * The node IP as the kubelet finds it without --node-ip: the host name's address if
 * it is not a loopback one, else the address of the default route's interface.
 */
async function detectNodeIP(name: string, hostRoot: string): Promise<string> {
  const resolved = await lookup(name, { family: 4 }).catch(() => undefined);
  if (resolved && !resolved.address.startsWith('127.')) return resolved.address;
  const routes = await readTrim(join(hostRoot, 'proc/net/route'));
  const iface = routes.split('\n').slice(1).map((l) => l.trim().split(/\s+/)).find((f) => f[1] === '00000000')?.[0];
  const addr = (iface ? networkInterfaces()[iface] : undefined)?.find((a) => a.family === 'IPv4' && !a.internal)?.address;
  if (addr) return addr;
  throw new Error(`can't get ip address of node ${name}: no non-loopback address for the host name and no default route`);
}
