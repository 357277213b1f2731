import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { workspaceRoot } from './paths';

export interface ServiceProcess {
  child: ChildProcess;
  /** Parsed JSON log lines so far (pino's output). */
  logs: Record<string, unknown>[];
  stderr: () => string;
  /** Resolves with the first log line matching, or rejects after timeoutMs. */
  waitForLog(match: (line: Record<string, unknown>) => boolean, timeoutMs?: number): Promise<Record<string, unknown>>;
  /** Resolves when the process exits. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  kill(signal?: NodeJS.Signals): void;
}

/** The service processes this test file has running, by label (`<service>@<node>`): what a failed test's report shows. */
const live = new Map<ServiceProcess, { label: string; exitedAt?: number }>();

/**
 * What the services of this file logged from `sinceMs` on (at most `perService` lines
 * each, the last ones), and every warning or error before: a failed e2e test's
 * report shows what the node did, where the CI run leaves nothing else behind.
 */
export function serviceLogsSince(sinceMs: number, perService = 80): string {
  const out: string[] = [];
  for (const [p, { label, exitedAt }] of live) {
    if (exitedAt !== undefined && exitedAt < sinceMs) {
      live.delete(p); // stopped before: nothing of it to show any more
      continue;
    }
    const at = (l: Record<string, unknown>) => (typeof l['time'] === 'string' ? Date.parse(l['time']) : Number(l['time'] ?? 0));
    const lines = p.logs.filter((l) => at(l) >= sinceMs || Number(l['level'] ?? 0) >= 40 || l['unparsed'] === true);
    if (!lines.length && !p.stderr()) continue;
    out.push(`--- ${label}${exitedAt !== undefined ? ' (exited)' : ''} (${lines.length > perService ? `last ${perService} of ${lines.length}` : lines.length} lines)`);
    for (const l of lines.slice(-perService)) out.push(JSON.stringify(l));
    if (p.stderr()) out.push(`stderr: ${p.stderr().slice(-2000)}`);
  }
  return out.join('\n');
}

/**
 * One service's view of the all-in-one process that hosts it: only its own log lines
 * (pino's `name`), the process's stderr, exit and signals.
 */
export function serviceView(shared: ServiceProcess, name: string): ServiceProcess {
  const own = (l: Record<string, unknown>) => l['name'] === name || l['unparsed'] === true;
  return {
    child: shared.child,
    get logs() {
      return shared.logs.filter(own);
    },
    stderr: shared.stderr,
    exited: shared.exited,
    kill: shared.kill,
    waitForLog: (match, timeoutMs) => shared.waitForLog((l) => own(l) && match(l), timeoutMs),
  };
}

/**
 * Runs a service as it runs in production: its esbuild bundle (`nx build <name>`)
 * under node with the instrumentation module imported first.
 */
export function startServiceProcess(name: string, env: Record<string, string>): ServiceProcess {
  const dist = join(workspaceRoot(), 'services', name, 'dist');
  // The V8 and glibc settings production runs with (scripts/node.sh, services/Dockerfile).
  const child = spawn(process.execPath, ['--max-semi-space-size=2', '--require', join(dist, 'instrumentation.js'), join(dist, 'main.js')], {
    env: { PATH: process.env['PATH'] ?? '', OTEL_SDK_DISABLED: 'true', MALLOC_ARENA_MAX: '2', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const logs: Record<string, unknown>[] = [];
  const waiters = new Set<() => void>();
  let err = '';
  let partial = '';
  child.stdout?.on('data', (d: Buffer) => {
    const lines = (partial + d.toString()).split('\n');
    partial = lines.pop() ?? '';
    for (const line of lines) {
      try {
        logs.push(JSON.parse(line) as Record<string, unknown>);
      } catch {
        logs.push({ msg: line, unparsed: true });
      }
    }
    waiters.forEach((w) => w());
  });
  child.stderr?.on('data', (d: Buffer) => (err += d.toString()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal })),
  );
  const proc: ServiceProcess = {
    child,
    logs,
    stderr: () => err,
    exited,
    kill: (signal = 'SIGTERM') => child.kill(signal),
    waitForLog(match, timeoutMs = 10_000) {
      return new Promise((resolve, reject) => {
        const check = () => {
          const found = logs.find(match);
          if (!found) return false;
          cleanup();
          resolve(found);
          return true;
        };
        const timer = setTimeout(() => {
          cleanup();
          reject(new Error(`no matching log line within ${timeoutMs} ms; logs:\n${logs.map((l) => JSON.stringify(l)).join('\n')}\nstderr:\n${err}`));
        }, timeoutMs);
        const cleanup = () => {
          clearTimeout(timer);
          waiters.delete(check);
        };
        if (!check()) waiters.add(check);
      });
    },
  };
  for (const [p, e] of live) if (e.exitedAt !== undefined && e.exitedAt < Date.now() - 600_000) live.delete(p);
  const entry: { label: string; exitedAt?: number } = { label: `${name === 'all-in-one' ? `all-in-one (${env['SPLITLET_SERVICES'] ?? ''})` : name}@${env['SPLITLET_NODE_NAME'] ?? ''}` };
  live.set(proc, entry);
  void exited.then(() => (entry.exitedAt = Date.now()));
  return proc;
}
