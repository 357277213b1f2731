import { readFile } from 'node:fs/promises';
import { runCommand } from '@splitlet/testing';

/**
 * utime + stime (clock ticks) from the text of /proc/<pid>/stat. The command (field 2)
 * is in parentheses and may hold spaces and ')' itself, so fields are counted from the
 * last ')'; utime and stime are fields 14 and 15.
 */
export function parseCpuTicks(stat: string): number {
  const close = stat.lastIndexOf(')');
  if (close < 0) throw new Error('not a /proc/<pid>/stat line');
  const rest = stat.slice(close + 2).split(' ');
  const ticks = Number(rest[11]) + Number(rest[12]);
  if (!Number.isFinite(ticks)) throw new Error('no utime/stime in /proc/<pid>/stat');
  return ticks;
}

/**
 * The whole machine's busy clock ticks from the text of /proc/stat: the first line's
 * user, nice, system, irq, softirq and steal (all but idle and iowait; guest time is
 * already inside user and nice).
 */
export function parseBusyTicks(stat: string): number {
  const first = stat.split('\n', 1)[0] ?? '';
  if (!first.startsWith('cpu ')) throw new Error('not /proc/stat');
  const v = first.trim().split(/\s+/).slice(1, 9).map(Number);
  if (v.length < 8 || v.some((x) => !Number.isFinite(x))) throw new Error('no cpu times in /proc/stat');
  return v[0]! + v[1]! + v[2]! + v[5]! + v[6]! + v[7]!;
}

/** VmRSS in KiB from the text of /proc/<pid>/status (NaN when absent: a zombie has none). */
export function parseVmRssKiB(status: string): number {
  return Number(/^VmRSS:\s+(\d+) kB/m.exec(status)?.[1] ?? Number.NaN);
}

/** CPU time over wall time in % of one core, rounded to 0.1. */
export function cpuPercent(ticks: number, ticksPerSecond: number, elapsedS: number): number {
  if (!(elapsedS > 0)) return Number.NaN;
  return Math.round((ticks / ticksPerSecond / elapsedS) * 100 * 10) / 10;
}

/** Bytes over milliseconds in MiB/s, rounded to 0.1. */
export function mibPerSecond(bytes: number, ms: number): number {
  if (!(ms > 0)) return Number.NaN;
  return Math.round((bytes / 1048576 / (ms / 1000)) * 10) / 10;
}

/** Pss in KiB from the text of /proc/<pid>/smaps_rollup: RSS with each shared page divided among the processes that map it. */
export function parsePssKiB(rollup: string): number {
  return Number(/^Pss:\s+(\d+) kB/m.exec(rollup)?.[1] ?? Number.NaN);
}

export const cpuTicks = async (pid: number): Promise<number> => parseCpuTicks(await readFile(`/proc/${pid}/stat`, 'utf8'));
export const rssKiB = async (pid: number): Promise<number> => parseVmRssKiB(await readFile(`/proc/${pid}/status`, 'utf8'));
export const pssKiB = async (pid: number): Promise<number> => parsePssKiB(await readFile(`/proc/${pid}/smaps_rollup`, 'utf8').catch(() => ''));

let hz: number | undefined;
/** The kernel's clock ticks per second (USER_HZ, nearly always 100). */
export async function ticksPerSecond(): Promise<number> {
  hz ??= Number((await runCommand('getconf', ['CLK_TCK'])).stdout.trim()) || 100;
  return hz;
}

/**
 * One process's CPU and RSS over a stretch of time: CPU from utime+stime at the start
 * and the end (averaged over the wall time between), RSS sampled every `everyMs` (its
 * peak and last value), since VmHWM would also hold a peak from before the stretch.
 */
export class ProcessUsage {
  private startTicks = 0;
  private startedAt = 0;
  private peakKiB = 0;
  private lastKiB = Number.NaN;
  private timer: NodeJS.Timeout | undefined;
  private sampling: Promise<void> = Promise.resolve();

  constructor(
    readonly pid: number,
    private readonly everyMs = 100,
  ) {}

  async start(): Promise<void> {
    this.startTicks = await cpuTicks(this.pid);
    this.startedAt = performance.now();
    await this.sample();
    this.timer = setInterval(() => {
      this.sampling = this.sampling.then(() => this.sample()).catch(() => undefined);
    }, this.everyMs);
  }

  private async sample(): Promise<void> {
    const kib = await rssKiB(this.pid);
    if (Number.isFinite(kib)) {
      this.lastKiB = kib;
      this.peakKiB = Math.max(this.peakKiB, kib);
    }
  }

  /** CPU in % of one core since start(), RSS peak and last in MiB. */
  async stop(): Promise<{ cpuPercent: number; peakRssMiB: number; rssMiB: number; seconds: number }> {
    clearInterval(this.timer);
    await this.sampling;
    const ticks = (await cpuTicks(this.pid)) - this.startTicks;
    const seconds = (performance.now() - this.startedAt) / 1000;
    await this.sample();
    const mib = (kib: number) => Math.round((kib / 1024) * 10) / 10;
    return { cpuPercent: cpuPercent(ticks, await ticksPerSecond(), seconds), peakRssMiB: mib(this.peakKiB), rssMiB: mib(this.lastKiB), seconds: Math.round(seconds * 100) / 100 };
  }
}

/**
 * Waits until the whole machine is quiet: its busy CPU below `belowCores` over each of
 * `forMs` (in 500 ms steps), at most `maxMs`. What the previous phase left running
 * (a runtime still removing a hundred containers, a GC pass) then does not fall into
 * the next phase's figures, on either node. Resolves with the time waited (ms) and
 * whether it turned quiet.
 */
export async function waitMachineQuiet(opts: { belowCores: number; forMs: number; maxMs: number }): Promise<{ waitedMs: number; quiet: boolean }> {
  const t0 = performance.now();
  let quietSince: number | undefined;
  let last = await machineBusy();
  while (performance.now() - t0 < opts.maxMs) {
    await new Promise((r) => setTimeout(r, 500));
    const now = await machineBusy();
    const cores = (now.busyS - last.busyS) / (now.at - last.at);
    last = now;
    const at = now.at * 1000;
    if (cores < opts.belowCores) {
      quietSince ??= at - 500;
      if (at - quietSince >= opts.forMs) return { waitedMs: Math.round(at - t0), quiet: true };
    } else quietSince = undefined;
  }
  return { waitedMs: Math.round(performance.now() - t0), quiet: false };
}

/** The whole machine's busy CPU-seconds so far (/proc/stat) and when read (performance.now(), s). */
export async function machineBusy(): Promise<{ busyS: number; at: number }> {
  const busy = parseBusyTicks(await readFile('/proc/stat', 'utf8'));
  return { busyS: busy / (await ticksPerSecond()), at: performance.now() / 1000 };
}
