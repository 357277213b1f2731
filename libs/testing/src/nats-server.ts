import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { labBinary } from './paths';

export interface NatsServer {
  /** nats://127.0.0.1:<port> */
  url: string;
  port: number;
  /** Stops the server (SIGKILL if it does not stop in time) and removes its store. */
  stop(): Promise<void>;
  /** Rewrites the server's config (a server started with `config`) and reloads it (SIGHUP). */
  reload(config: string): Promise<void>;
}

/**
 * Starts a real nats-server with JetStream on a random port with a temporary store,
 * as nats.js's own test harness does. The binary is NATS_SERVER_BIN or the lab's.
 * With `config` (e.g. bus-creds' auth config), the server runs with it (`-c`).
 */
export async function startNatsServer(opts: { startTimeoutMs?: number; config?: string } = {}): Promise<NatsServer> {
  const bin = process.env['NATS_SERVER_BIN'] ?? labBinary('nats-server');
  const dir = await mkdtemp(join(tmpdir(), 'splitlet-nats-'));
  const config = opts.config === undefined ? [] : ['-c', join(dir, 'server.conf')];
  if (opts.config !== undefined) await writeFile(join(dir, 'server.conf'), opts.config);
  const child = spawn(bin, [...config, '-a', '127.0.0.1', '-p', '-1', '-js', '-sd', join(dir, 'js'), '--ports_file_dir', dir], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
  const port = await waitForPort(child, dir, opts.startTimeoutMs ?? 10_000, () => stderr);
  return {
    url: `nats://127.0.0.1:${port}`,
    port,
    stop: async () => {
      await stopProcess(child);
      await rm(dir, { recursive: true, force: true });
    },
    reload: async (text) => {
      if (opts.config === undefined) throw new Error('reload: the server was started without a config');
      await writeFile(join(dir, 'server.conf'), text);
      child.kill('SIGHUP');
    },
  };
}

async function waitForPort(child: ChildProcess, dir: string, timeoutMs: number, stderr: () => string): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`nats-server exited with ${child.exitCode}: ${stderr()}`);
    const file = (await readdir(dir)).find((f) => f.endsWith('.ports'));
    if (file) {
      // nats-server creates the file, then writes it: read too early, it is empty or cut short.
      const ports = parsePorts(await readFile(join(dir, file), 'utf8'));
      const url = ports?.nats?.[0];
      if (url) return Number(new URL(url).port);
    }
    await sleep(25);
  }
  child.kill('SIGKILL');
  throw new Error(`nats-server did not start within ${timeoutMs} ms: ${stderr()}`);
}

function parsePorts(text: string): { nats?: string[] } | undefined {
  try {
    return JSON.parse(text) as { nats?: string[] };
  } catch {
    return undefined; // not written whole yet
  }
}

async function stopProcess(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
  await exited;
  clearTimeout(timer);
}
