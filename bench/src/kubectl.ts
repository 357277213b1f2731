import { spawn } from 'node:child_process';
import { get as httpGet } from 'node:http';

// kubectl and HTTP as the node-api scenario drives them: timed, counting bytes without keeping them.

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export interface Timed {
  ms: number;
  code: number;
  bytes: number;
  stderr: string;
}

/** Runs a command to its end: its wall time, exit code, the bytes it wrote to stdout (not kept) and its stderr. */
export function runTimed(file: string, args: string[], timeoutMs: number): Promise<Timed> {
  return new Promise((resolve) => {
    const started = performance.now();
    const child = spawn(file, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let bytes = 0;
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (bytes += d.length));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.once('error', (err) => {
      clearTimeout(timer);
      resolve({ ms: performance.now() - started, code: -1, bytes, stderr: String(err) });
    });
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ ms: performance.now() - started, code: code ?? -1, bytes, stderr: signal ? `${stderr}killed by ${signal}` : stderr });
    });
  });
}

/** The local port of `Forwarding from 127.0.0.1:<local> -> <remote>` in kubectl port-forward's output. */
export function forwardedPort(output: string, remotePort: number): number | undefined {
  const m = new RegExp(`^Forwarding from 127\\.0\\.0\\.1:(\\d+) -> ${remotePort}$`, 'm').exec(output);
  return m ? Number(m[1]) : undefined;
}

/** Starts kubectl port-forward and resolves once it listens; close() stops it (SIGINT, as Ctrl-C). */
export async function openPortForward(kubectl: string, args: string[], remotePort: number, timeoutMs: number) {
  const child = spawn(kubectl, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  const onData = (d: Buffer) => {
    // "Handling connection for <port>" per connection: not worth keeping.
    out = (out + d.toString()).replace(/Handling connection for \d+\n/g, '').slice(-4096);
  };
  child.stdout.on('data', onData);
  child.stderr.on('data', onData);
  const exited = new Promise<void>((resolve) => child.once('close', () => resolve()));
  let gone = false;
  void exited.then(() => (gone = true));
  const close = async () => {
    if (!gone) child.kill('SIGINT');
    await Promise.race([exited, sleep(5000).then(() => child.kill('SIGKILL'))]);
  };
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const port = forwardedPort(out, remotePort);
    if (port) return { localPort: port, output: () => out, close };
    if (gone || Date.now() > deadline) {
      await close();
      throw new Error(`kubectl port-forward did not listen: ${out.trim().slice(-500)}`);
    }
    await sleep(50);
  }
}

/** GET http://127.0.0.1:<port><path>: status, body bytes (counted, not kept), request → last byte. */
export function download(port: number, path: string, timeoutMs: number): Promise<{ status: number; bytes: number; ms: number }> {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const req = httpGet({ host: '127.0.0.1', port, path, agent: false, timeout: timeoutMs }, (res) => {
      let bytes = 0;
      res.on('data', (d: Buffer) => (bytes += d.length));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, bytes, ms: performance.now() - started }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`no answer within ${timeoutMs / 1000} s`)));
    req.on('error', reject);
  });
}
