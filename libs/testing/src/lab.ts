import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { labBinary, labDir } from './paths';

const run = promisify(execFile);

/** Where the lab's parts are (test/lab/lab.sh env prints the same). */
export function labEnv() {
  const dir = labDir();
  return {
    dir,
    adminKubeconfig: process.env['LAB_ADMIN_KUBECONFIG'] ?? join(dir, 'admin.kubeconfig'),
    nodeKubeconfig: process.env['LAB_NODE_KUBECONFIG'] ?? join(dir, 'node.kubeconfig'),
    nodeName: process.env['LAB_NODE_NAME'] ?? hostname().toLowerCase(),
    natsUrl: process.env['NATS_URL'] ?? 'nats://127.0.0.1:4222',
    /** The lab's NATS monitoring endpoint (connz, healthz). */
    natsMonitorUrl: process.env['LAB_NATS_MONITOR_URL'] ?? `http://127.0.0.1:${process.env['LAB_NATS_MONITOR_PORT'] ?? '8222'}`,
    /** The CA of the lab's NATS TLS certificate (none: a lab whose NATS has no TLS). */
    natsCa: process.env['SPLITLET_NATS_CA'] ?? (existsSync(join(dir, 'pki', 'nats-server.crt')) ? join(dir, 'pki', 'ca.crt') : undefined),
    otlpEndpoint: process.env['OTEL_EXPORTER_OTLP_ENDPOINT'] ?? 'http://127.0.0.1:4318',
    jaegerUrl: process.env['JAEGER_QUERY_URL'] ?? 'http://127.0.0.1:16686',
    /** The lab's image registry (basic auth) holding `splitlet-lab/private:1`. */
    registry: process.env['LAB_REGISTRY'] ?? '127.0.0.1:5050',
    registryUser: process.env['LAB_REGISTRY_USER'] ?? 'lab',
    registryPassword: process.env['LAB_REGISTRY_PASSWORD'] ?? 'lab-registry-secret',
  };
}

export interface CommandResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs the lab's kubectl with a kubeconfig; never throws on a non-zero exit. */
export async function kubectl(kubeconfig: string, args: string[], input?: string): Promise<CommandResult> {
  return runCommand(labBinary('kubectl'), ['--kubeconfig', kubeconfig, ...args], input);
}

/**
 * Runs a command; never throws on a non-zero exit. `input` goes to its stdin; a command
 * that exits before reading all of it (EPIPE) is not an error: its exit code and output
 * are the result. Any other failure to write it is added to stderr.
 */
export async function runCommand(file: string, args: string[], input?: string): Promise<CommandResult> {
  const p = run(file, args, { maxBuffer: 64 * 1024 * 1024 });
  let stdinError = '';
  if (input !== undefined) {
    p.child.stdin?.on('error', (err: NodeJS.ErrnoException) => {
      if (err.code !== 'EPIPE') stdinError = `\n[runCommand] writing stdin: ${err.message}\n`;
    });
    p.child.stdin?.end(input);
  }
  try {
    const { stdout, stderr } = await p;
    return { code: 0, stdout, stderr: stderr + stdinError };
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof e.code === 'number' ? e.code : 1, stdout: e.stdout ?? '', stderr: (e.stderr ?? '') + stdinError };
  }
}
