import { spawn, type ChildProcess } from 'node:child_process';
import { openSync, closeSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, statfs } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCommand, type CommandResult } from './lab';
import { waitFor } from './wait';

/** A Docker Engine of a test's own, its data root on a small filesystem of its own. */
export interface ScratchDocker {
  /** DOCKER_HOST for it: unix:///…/docker.sock. */
  host: string;
  /** Its data root (the image filesystem it reports). */
  dataRoot: string;
  /** Runs the docker CLI against it. */
  docker(args: string[]): Promise<CommandResult>;
  /** Its filesystem as statfs measures it (what runtime-executor's ImageFsInfo reports). */
  usage(): Promise<{ capacityBytes: bigint; availableBytes: bigint; usedPercent: number; inodes: bigint; inodesFree: bigint }>;
  /** Stops the engine (and its containers), unmounts and deletes the filesystem. */
  stop(): Promise<void>;
}

/**
 * Starts a second dockerd whose data root is a loop-mounted ext4 file of sizeMiB (with
 * `inodes` inodes when given), so a test can fill an image filesystem for real without
 * the machine running short (image garbage collection, disk and inode pressure). Its containers get a bridge of their own
 * (`splscr<hex>`, a free 10.254.x.0/24) and it touches no iptables rule: never
 * `--bridge=none`, with which dockerd deletes the host's docker0 — the lab engine's.
 * `images` are copied in from the lab's engine.
 */
export async function startScratchDocker(opts: { sizeMiB: number; images?: string[]; inodes?: number }): Promise<ScratchDocker> {
  const dir = await mkdtemp(join(tmpdir(), 'splitlet-scratch-docker-'));
  const img = join(dir, 'fs.img');
  const mnt = join(dir, 'mnt');
  const sock = join(dir, 'docker.sock');
  const must = async (what: string, p: Promise<CommandResult>) => {
    const r = await p;
    if (r.code !== 0) throw new Error(`${what}: ${r.stderr || r.stdout}`);
    return r;
  };
  const bridge = `splscr${randomBytes(3).toString('hex')}`;
  let dockerd: ChildProcess | undefined;
  let mounted = false;
  let bridged = false;
  // A process killed by a signal keeps exitCode null: its signalCode says it is gone.
  const alive = () => dockerd !== undefined && dockerd.exitCode === null && dockerd.signalCode === null;
  const stop = async () => {
    if (alive()) {
      const exited = new Promise((r) => dockerd!.once('exit', r));
      dockerd!.kill('SIGTERM');
      await Promise.race([exited, new Promise((r) => setTimeout(r, 30_000))]);
      if (alive()) dockerd!.kill('SIGKILL');
    }
    if (bridged) await runCommand('ip', ['link', 'del', bridge]);
    // The filesystem, and whatever dockerd left mounted under its exec root (netns/default), deepest first.
    if (mounted) {
      const targets = (await readFile('/proc/self/mounts', 'utf8')).split('\n').map((l) => l.split(' ')[1] ?? '').filter((t) => t.startsWith(`${dir}/`));
      for (const t of targets.sort((a, b) => b.length - a.length)) await runCommand('umount', ['-l', t]);
    }
    await rm(dir, { recursive: true, force: true }).catch(() => undefined);
  };
  try {
    await must('mkdir', runCommand('mkdir', ['-p', mnt]));
    await must('truncate', runCommand('truncate', ['-s', `${opts.sizeMiB}M`, img]));
    // No blocks reserved for root: available is what is free, as on a data disk.
    await must('mkfs.ext4', runCommand('mkfs.ext4', ['-q', '-m', '0', ...(opts.inodes ? ['-N', String(opts.inodes)] : []), '-F', img]));
    await must('mount', runCommand('mount', ['-o', 'loop', img, mnt]));
    mounted = true;
    const used = (await runCommand('ip', ['-4', '-o', 'addr'])).stdout;
    const offset = randomBytes(1)[0]!;
    const free = [...Array(256).keys()].map((i) => (i + offset) % 256).find((x) => !used.includes(` 10.254.${x}.`));
    if (free === undefined) throw new Error('no free 10.254.x.0/24 for the scratch engine\'s bridge');
    await must('ip link add', runCommand('ip', ['link', 'add', bridge, 'type', 'bridge']));
    bridged = true;
    await must('ip addr add', runCommand('ip', ['addr', 'add', `10.254.${free}.1/24`, 'dev', bridge]));
    await must('ip link set up', runCommand('ip', ['link', 'set', bridge, 'up']));
    const log = openSync(join(dir, 'dockerd.log'), 'a');
    dockerd = spawn(
      'dockerd',
      ['--data-root', join(mnt, 'docker'), '--exec-root', join(dir, 'exec'), '--pidfile', join(dir, 'docker.pid'), '-H', `unix://${sock}`, `--bridge=${bridge}`, '--iptables=false', '--ip6tables=false', '--ip-masq=false'],
      { stdio: ['ignore', log, log] },
    );
    closeSync(log);
    const host = `unix://${sock}`;
    const docker = (args: string[], input?: string) => runCommand('docker', ['-H', host, ...args], input);
    await waitFor('the scratch dockerd answering', async () => (alive() ? ((await docker(['info'])).code === 0 ? true : undefined) : Promise.reject(new Error(`dockerd exited (${dockerd!.exitCode ?? dockerd!.signalCode}); see ${dir}/dockerd.log`))), 60_000);
    if (opts.images?.length) await must('copying the images in', runCommand('sh', ['-c', `docker save "$@" | docker -H '${host}' load`, 'sh', ...opts.images]));
    return {
      host,
      dataRoot: join(mnt, 'docker'),
      docker: (args) => docker(args),
      async usage() {
        const s = await statfs(mnt, { bigint: true });
        const capacityBytes = s.blocks * s.bsize;
        const availableBytes = s.bavail * s.bsize;
        return { capacityBytes, availableBytes, usedPercent: 100 - Number((availableBytes * 100n) / capacityBytes), inodes: s.files, inodesFree: s.ffree };
      },
      stop,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}
