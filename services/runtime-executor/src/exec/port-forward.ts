import { spawn } from 'node:child_process';
import { Duplex } from 'node:stream';

/**
 * What runs inside the sandbox's network namespace for one forwarded connection: a
 * connection to 127.0.0.1:<port> copied to and from stdin/stdout, the client's end of
 * stdin passed on as a half-close, the connect error on stderr (exit 1). The node binary
 * is the executor's own: the pod's image need not have anything (the kubelet's dockershim
 * needed socat on the host).
 *
 * It ends (exit 0, its output flushed) once both directions are done, or one second after
 * the pod's side finished: containerd's PortForward waits that long for the other
 * direction, as socat's -t, then returns, so the client learns the pod closed the
 * connection. (`pipe` never ends process.stdout, so a 'finish' on it never comes.)
 */
export const FORWARD_HELPER = `
const net = require('node:net');
const s = net.connect({ port: Number(process.argv[1]), host: '127.0.0.1', allowHalfOpen: true });
const done = () => process.stdout.write('', () => process.exit(0));
s.on('error', (e) => { process.stderr.write(e.message); process.exit(1); });
s.on('connect', () => {
  process.stdin.pipe(s);
  s.pipe(process.stdout);
  s.on('end', () => setTimeout(done, 1000));
  s.on('close', done);
});
`;

/** A forwarded connection: the bytes both ways, and its end (resolves at a clean close, rejects with the connect error). */
export interface ForwardedConnection {
  stream: Duplex;
  done: () => Promise<number>;
}

/**
 * Connects to a port on the loopback of the network namespace of process `pid` (the
 * pod's sandbox) with `nsenter -t <pid> -n` and the helper above. The executor runs as
 * root on the node with the host's PID namespace (it must, to enter a sandbox's).
 */
export function connectInNetns(pid: number, port: number): ForwardedConnection {
  const child = spawn('nsenter', ['-t', String(pid), '-n', '--', process.execPath, '-e', FORWARD_HELPER, String(port)], {
    stdio: ['pipe', 'pipe', 'pipe'],
    // Not the service's environment: no NODE_OPTIONS (instrumentation), no credentials' paths.
    env: { PATH: process.env['PATH'] ?? '/usr/bin:/bin' },
  });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-1024)));
  const exited = new Promise<number>((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (code, signal) => {
      if (code === 0) resolve(0);
      else reject(new Error(stderr.trim() || `port-forward helper ended (${signal ?? `exit ${code}`})`));
    });
  });
  exited.catch(() => undefined);
  // Not Duplex.from: a write to a helper that already exited (the pod's side closed while
  // the client still sent) breaks the pipe, and that must not turn a finished connection
  // into a failed one; the helper's exit status tells how it ended.
  child.stdin.on('error', () => undefined);
  const stream = new Duplex({
    read: () => void child.stdout.resume(),
    write: (chunk: Buffer, _enc, cb) => (child.stdin.writable ? void child.stdin.write(chunk, () => cb()) : cb()),
    final: (cb) => {
      child.stdin.end();
      cb();
    },
    // The connection is freed (the caller closed it, or it idled): the helper goes with it.
    destroy: (err, cb) => {
      if (child.exitCode === null) child.kill('SIGKILL');
      cb(err);
    },
  });
  child.stdout.on('data', (d: Buffer) => {
    if (!stream.push(d)) child.stdout.pause();
  });
  child.stdout.on('end', () => stream.push(null));
  return { stream, done: () => exited };
}
