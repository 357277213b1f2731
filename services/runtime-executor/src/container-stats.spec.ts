import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { DockerApi } from './docker';
import { LABEL, TYPE_CONTAINER } from './docker-mapping';
import { ContainerStatsReader } from './container-stats';
import { Owned } from './owned';

const NODE = 'node-a';
const RUNNING = 'a1'.repeat(32);
const STOPPED = 'a2'.repeat(32);
const GONE = 'a3'.repeat(32);
const labels = { [LABEL.node]: NODE, [LABEL.type]: TYPE_CONTAINER, [LABEL.containerName]: 'app', 'io.kubernetes.pod.name': 'web' };

/** Docker's answers as the engine gives them: cgroup v1 stats names for one container, v2 for the other. */
function fakeDocker(v2: boolean, logPath?: string, upperDir?: string): DockerApi {
  return {
    listContainers: async () => [
      { Id: RUNNING, State: 'running' },
      { Id: STOPPED, State: 'exited' },
      { Id: GONE, State: 'running' },
    ],
    getContainer: (id: string) => ({
      inspect: async (opts?: { size?: boolean }) => {
        if (id === GONE) throw Object.assign(new Error('No such container'), { statusCode: 404 });
        const sized = opts?.size ? { SizeRw: 12_345_678 } : {};
        const graph = upperDir ? { GraphDriver: { Name: 'overlay2', Data: { UpperDir: upperDir } } } : {};
        return { Id: id, Name: '/k8s_app_web_ns_uid_0', State: { Running: id === RUNNING, StartedAt: '2026-12-03T10:00:00.5Z' }, Config: { Labels: labels }, LogPath: logPath, ...sized, ...graph };
      },
      stats: async (opts: unknown) => {
        expect(opts).toEqual({ stream: false, 'one-shot': true });
        return {
          read: '2026-12-03T10:01:00.25Z',
          cpu_stats: { cpu_usage: { total_usage: 1_500_000_000 } },
          memory_stats: v2 ? { usage: 10_000_000, stats: { inactive_file: 4_000_000, anon: 5_000_000 } } : { usage: 10_000_000, stats: { total_inactive_file: 3_000_000, total_rss: 6_000_000 } },
          pids_stats: { current: 7 },
        };
      },
    }),
  } as unknown as DockerApi;
}

describe('container stats', () => {
  it('ContainerStatsReader - each running container of the node: cumulative CPU, working set = usage - inactive file (cgroup v1 and v2), processes; stopped and removed ones left out', async () => {
    for (const v2 of [false, true]) {
      const docker = fakeDocker(v2);
      const stats = await new ContainerStatsReader(docker, new Owned(docker, NODE)).list('');
      expect(stats).toEqual([
        {
          id: RUNNING,
          metadata: { name: 'app', attempt: 0 },
          labels: { 'io.kubernetes.container.name': 'app', 'io.kubernetes.pod.name': 'web' },
          timestamp: 1_796_292_060_250_000_000n,
          startedAt: 1_796_292_000_500_000_000n,
          usageCoreNanoSeconds: 1_500_000_000n,
          memoryWorkingSetBytes: v2 ? 6_000_000n : 7_000_000n,
          memoryUsageBytes: 10_000_000n,
          memoryRssBytes: v2 ? 5_000_000n : 6_000_000n,
          processCount: 7n,
        },
      ]);
    }
  });

  it('ContainerStatsReader - with filesystem: the writable layer (Docker\'s SizeRw), the log file\'s size, and the inodes of the layer\'s upper directory and the log; without, none', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'stats-'));
    writeFileSync(join(dir, 'c-json.log'), 'x'.repeat(4321));
    const upper = join(dir, 'upper');
    mkdirSync(join(upper, 'tmp'), { recursive: true });
    for (const f of ['a', 'b', 'c']) writeFileSync(join(upper, 'tmp', f), f);
    const docker = fakeDocker(true, join(dir, 'c-json.log'), upper);
    const [withFs] = await new ContainerStatsReader(docker, new Owned(docker, NODE)).list(RUNNING, true);
    // upper/, upper/tmp/, three files, and the log.
    expect([withFs?.writableLayerUsedBytes, withFs?.logUsedBytes, withFs?.inodesUsed]).toEqual([12_345_678n, 4321n, 6n]);
    const [without] = await new ContainerStatsReader(docker, new Owned(docker, NODE)).list(RUNNING);
    expect([without?.writableLayerUsedBytes, without?.logUsedBytes, without?.inodesUsed]).toEqual([undefined, undefined, undefined]);
  });

  it('ContainerStatsReader - one container by id; an id not shaped as Docker\'s is refused before Docker', async () => {
    const docker = fakeDocker(false);
    const reader = new ContainerStatsReader(docker, new Owned(docker, NODE));
    expect((await reader.list(STOPPED)).length).toBe(0);
    expect((await reader.list(RUNNING)).map((s) => s.id)).toEqual([RUNNING]);
    await expect(reader.list('../../info')).rejects.toMatchObject({ code: 3 });
  });
});
