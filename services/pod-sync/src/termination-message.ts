import { randomBytes } from 'node:crypto';
import { chmodSync, closeSync, fstatSync, mkdirSync, openSync, readSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ServiceClient } from '@splitlet/bus';
import { ContainerState, type ContainerStatus, type RuntimeService } from '@splitlet/contracts';

type Runtime = ServiceClient<typeof RuntimeService>;

/** The kubelet's limits (pkg/kubelet/container): the file's last 4 KiB; or the log's last 80 lines, 2 KiB. */
export const MAX_MESSAGE_BYTES = 4 * 1024;
export const MAX_LOG_LINES = 80;
export const MAX_LOG_BYTES = 2 * 1024;

export const ANNOTATION_PATH = 'io.kubernetes.container.terminationMessagePath';
export const ANNOTATION_POLICY = 'io.kubernetes.container.terminationMessagePolicy';

/**
 * The host file a container's terminationMessagePath is bound to (the kubelet's
 * pods/<uid>/containers/<name>/<random>), writable by any user the container runs as.
 */
export function terminationMessageFile(podDir: string, container: string): string {
  const dir = join(podDir, 'containers', container);
  mkdirSync(dir, { recursive: true, mode: 0o750 });
  const file = join(dir, randomBytes(4).toString('hex'));
  writeFileSync(file, '', { mode: 0o666 });
  chmodSync(file, 0o666);
  return file;
}

/** At most the last max bytes of a file; undefined when it is not there. */
function readTail(path: string, max: number): string | undefined {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch {
    return undefined;
  }
  try {
    const size = fstatSync(fd).size;
    const len = Math.min(size, max);
    const buf = Buffer.alloc(len);
    readSync(fd, buf, 0, len, size - len);
    return buf.toString('utf8');
  } finally {
    closeSync(fd);
  }
}

/**
 * Termination messages as kuberuntime adds them to an exited container's status
 * (getTerminationMessage): the file bound at terminationMessagePath; with
 * FallbackToLogsOnError, a failed container that wrote none gets the end of its log.
 * An exited container never changes, so each is read once.
 */
export class TerminationMessages {
  private readonly cache = new Map<string, string>();

  constructor(private readonly runtime: Runtime) {}

  async of(c: ContainerStatus): Promise<string> {
    if (c.state !== ContainerState.EXITED) return '';
    const known = this.cache.get(c.id);
    if (known !== undefined) return known;
    const path = c.annotations[ANNOTATION_PATH] ?? '';
    // A container that could not even start has no logs to fall back to.
    const fallback = c.annotations[ANNOTATION_POLICY] === 'FallbackToLogsOnError' && c.exitCode !== 0 && c.reason !== 'StartError' && c.reason !== 'ContainerCannotRun';
    const mount = path ? c.mounts.find((m) => m.containerPath === path) : undefined;
    const fromFile = mount ? readTail(mount.hostPath, MAX_MESSAGE_BYTES) : undefined;
    let message = fromFile ?? '';
    if (!message && fallback) {
      const { log } = await this.runtime.containerLogTail({ containerId: c.id, lines: MAX_LOG_LINES, maxBytes: MAX_LOG_BYTES });
      message = new TextDecoder().decode(log);
    }
    if (this.cache.size > 10_000) this.cache.clear();
    this.cache.set(c.id, message);
    return message;
  }
}
