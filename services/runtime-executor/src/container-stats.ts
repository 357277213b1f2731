import { stat } from 'node:fs/promises';
import { inject, injectable } from 'tsyringe';
import type Docker from 'dockerode';
import type { ContainerStats } from '@splitlet/contracts';
import { treeUsage } from '@splitlet/service';
import { dockerCall, isNotFound, type DockerApi } from './docker';
import { dockerTimeToNanos, extractLabels, LABEL, parseName, TYPE_CONTAINER } from './docker-mapping';
import { Owned } from './owned';
import { requireContainerId } from './request-validation';
import { RT } from './tokens';

/** What Docker's one-shot stats answer holds of it (cgroup v1 and v2 names). */
interface DockerStats {
  read?: string;
  cpu_stats?: { cpu_usage?: { total_usage?: number } };
  memory_stats?: { usage?: number; stats?: Record<string, number | undefined> };
  pids_stats?: { current?: number };
}

type Stats = Omit<ContainerStats, '$typeName' | 'metadata' | 'writableLayerUsedBytes' | 'logUsedBytes' | 'inodesUsed'> &
  Partial<Pick<ContainerStats, 'writableLayerUsedBytes' | 'logUsedBytes' | 'inodesUsed'>> & { metadata: { name: string; attempt: number } };

/**
 * The CRI's ListContainerStats over Docker: one sample of each running container of
 * this node, from Docker's one-shot stats (no second sample to wait for, so no rate:
 * the cumulative CPU time, as the kubelet's /metrics/resource reports it). A container
 * that stops between the list and its sample is left out.
 */
@injectable()
export class ContainerStatsReader {
  constructor(
    @inject(RT.Docker) private readonly docker: DockerApi,
    @inject(Owned) private readonly owned: Owned,
  ) {}

  async list(containerId: string, filesystem = false): Promise<Stats[]> {
    // One container: its inspect says whether it is this node's and running; no list of all.
    const ids = containerId
      ? [requireContainerId(containerId, 'container')]
      : (await this.owned.list(TYPE_CONTAINER, {})).filter((c) => c.State === 'running').map((c) => c.Id);
    const sampled = await Promise.all(ids.map((id) => this.sample(id, filesystem)));
    return sampled.filter((s): s is Stats => s !== undefined);
  }

  private async sample(id: string, filesystem: boolean): Promise<Stats | undefined> {
    const info = await this.owned.inspect(id, TYPE_CONTAINER, { size: filesystem });
    if (!info?.State.Running) return undefined;
    let raw: Docker.ContainerStats;
    try {
      raw = await dockerCall(() => this.docker.getContainer(info.Id).stats({ stream: false, 'one-shot': true }));
    } catch (err) {
      // Removed in between.
      if (isNotFound((err as Error).cause)) return undefined;
      throw err;
    }
    const stats = toContainerStats(info, raw as unknown as DockerStats);
    if (!filesystem) return stats;
    const logBytes = await fileSize(info.LogPath);
    // The writable layer's inodes: overlay2's upper directory, walked (0 when this process does not see Docker's data root).
    const upper = (info.GraphDriver?.Data as Record<string, string> | undefined)?.['UpperDir'];
    const layerInodes = upper ? ((await treeUsage(upper))?.inodes ?? 0n) : 0n;
    return { ...stats, writableLayerUsedBytes: BigInt(Math.max(0, info.SizeRw ?? 0)), logUsedBytes: logBytes, inodesUsed: layerInodes + (logBytes > 0n ? 1n : 0n) };
  }
}

/**
 * The size of the container's log file (Docker's json-file log under its data root,
 * which the executor reads; its rotated files are not counted). 0 when it cannot be
 * read: no log driver file, or a data root this process does not see.
 */
async function fileSize(path: string | undefined): Promise<bigint> {
  if (!path) return 0n;
  try {
    return BigInt((await stat(path)).size);
  } catch {
    return 0n;
  }
}

export function toContainerStats(info: Docker.ContainerInspectInfo, s: DockerStats): Stats {
  const raw = info.Config.Labels ?? {};
  const parsed = parseName(info.Name);
  const mem = s.memory_stats ?? {};
  const usage = mem.usage ?? 0;
  // The working set as cAdvisor counts it: usage less the inactive file cache, never below 0.
  const inactive = mem.stats?.['inactive_file'] ?? mem.stats?.['total_inactive_file'] ?? 0;
  const rss = mem.stats?.['anon'] ?? mem.stats?.['total_rss'] ?? mem.stats?.['rss'] ?? 0;
  const read = s.read ? dockerTimeToNanos(s.read) : 0n;
  return {
    id: info.Id,
    metadata: { name: raw[LABEL.containerName] ?? parsed?.containerName ?? '', attempt: parsed?.attempt ?? 0 },
    labels: extractLabels(raw).labels,
    timestamp: read > 0n ? read : BigInt(Date.now()) * 1_000_000n,
    startedAt: dockerTimeToNanos(info.State.StartedAt),
    usageCoreNanoSeconds: BigInt(Math.max(0, Math.trunc(s.cpu_stats?.cpu_usage?.total_usage ?? 0))),
    memoryWorkingSetBytes: BigInt(Math.max(0, Math.trunc(usage - inactive))),
    memoryUsageBytes: BigInt(Math.max(0, Math.trunc(usage))),
    memoryRssBytes: BigInt(Math.max(0, Math.trunc(rss))),
    processCount: BigInt(Math.max(0, Math.trunc(s.pids_stats?.current ?? 0))),
  };
}
