// Pure mapping between the CRI-shaped contract and Docker, after the kubelet's
// dockershim (pkg/kubelet/dockershim: naming.go, labels, helpers.go, docker_container.go).
// No I/O here, so all of it is unit-tested without Docker.
import { ContainerState, MountPropagation, PodSandboxState, Protocol } from '@splitlet/contracts';
import type { HostAlias, Mount, PodSandboxMetadata, PortMapping } from '@splitlet/contracts';

/** Labels the executor sets on what it creates; the lists filter on them. */
export const LABEL = {
  node: 'splitlet.node',
  podName: 'io.kubernetes.pod.name',
  podNamespace: 'io.kubernetes.pod.namespace',
  podUid: 'io.kubernetes.pod.uid',
  containerName: 'io.kubernetes.container.name',
  type: 'io.kubernetes.docker.type',
  sandboxId: 'io.kubernetes.sandbox.id',
} as const;

export const TYPE_SANDBOX = 'podsandbox';
export const TYPE_CONTAINER = 'container';
/** dockershim's name for the sandbox's container (kubelet's "POD"). */
export const SANDBOX_CONTAINER_NAME = 'POD';
/** Annotations travel as labels under this prefix, as dockershim stored them. */
export const ANNOTATION_PREFIX = 'annotation.';
/** Labels the executor uses for itself: never returned as the caller's labels. */
const INTERNAL_LABELS: ReadonlySet<string> = new Set([LABEL.node, LABEL.type, LABEL.sandboxId]);

const KUBE_PREFIX = 'k8s';

export function sandboxName(m: PodSandboxMetadata): string {
  return [KUBE_PREFIX, SANDBOX_CONTAINER_NAME, m.name, m.namespace, m.uid, String(m.attempt)].join('_');
}

export function containerName(sandbox: { name: string; namespace: string; uid: string }, container: { name: string; attempt: number }): string {
  return [KUBE_PREFIX, container.name, sandbox.name, sandbox.namespace, sandbox.uid, String(container.attempt)].join('_');
}

export interface ParsedName {
  containerName: string;
  podName: string;
  podNamespace: string;
  podUid: string;
  attempt: number;
}

/** Reads a name made by sandboxName/containerName back (Docker prefixes names with "/"). */
export function parseName(name: string): ParsedName | undefined {
  const parts = name.replace(/^\//, '').split('_');
  if (parts.length !== 6 || parts[0] !== KUBE_PREFIX) return undefined;
  const [, containerName, podName, podNamespace, podUid, attempt] = parts as [string, string, string, string, string, string];
  if (!/^\d+$/.test(attempt)) return undefined;
  return { containerName, podName, podNamespace, podUid, attempt: Number(attempt) };
}

/** The caller's labels and annotations as Docker labels (annotations under a prefix). */
export function makeLabels(labels: Record<string, string>, annotations: Record<string, string>): Record<string, string> {
  const out: Record<string, string> = { ...labels };
  for (const [k, v] of Object.entries(annotations)) out[ANNOTATION_PREFIX + k] = v;
  return out;
}

/** Docker labels back to the caller's labels and annotations, without the executor's own. */
export function extractLabels(input: Record<string, string> | null | undefined): { labels: Record<string, string>; annotations: Record<string, string> } {
  const labels: Record<string, string> = {};
  const annotations: Record<string, string> = {};
  for (const [k, v] of Object.entries(input ?? {})) {
    if (INTERNAL_LABELS.has(k)) continue;
    // The sandbox's "POD" container name is the executor's, not the caller's (as dockershim).
    if (k === LABEL.containerName && input?.[LABEL.type] === TYPE_SANDBOX) continue;
    if (k.startsWith(ANNOTATION_PREFIX)) annotations[k.slice(ANNOTATION_PREFIX.length)] = v;
    else labels[k] = v;
  }
  return { labels, annotations };
}

/** Docker's zero time (year 1) means "not yet". */
const ZERO_TIME = /^0001-01-01T/;

/** A Docker RFC 3339 time with nanoseconds to Unix nanoseconds; 0 for Docker's zero time. */
export function dockerTimeToNanos(t: string | undefined | null): bigint {
  if (!t || ZERO_TIME.test(t)) return 0n;
  const m = /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d+))?(Z|[+-]\d\d:\d\d)$/.exec(t);
  if (!m) return 0n;
  const seconds = Date.parse(`${m[1]}${m[3]}`);
  if (Number.isNaN(seconds)) return 0n;
  const frac = (m[2] ?? '').slice(0, 9).padEnd(9, '0');
  return BigInt(seconds) * 1_000_000n + BigInt(frac);
}

/** The part of Docker's container State the status needs. */
export interface DockerState {
  Status?: string;
  Running?: boolean;
  OOMKilled?: boolean;
  ExitCode?: number;
  Error?: string;
  StartedAt?: string;
  FinishedAt?: string;
}

export interface MappedState {
  state: ContainerState;
  reason: string;
  message: string;
  exitCode: number;
  startedAt: bigint;
  finishedAt: bigint;
}

/**
 * Docker's state as the CRI's, as dockershim's ContainerStatus did: running; exited
 * (it ran and finished: OOMKilled, Completed or Error); exited with "StartError" (as
 * containerd reports it to a CRI kubelet; dockershim said "ContainerCannotRun")
 * when the start failed (Docker leaves it "created" with an exit code and an error);
 * created; a dead or removing container that finished is exited too (dockershim read
 * FinishedAt); anything else (paused, restarting, never finished) unknown.
 */
export function mapContainerState(s: DockerState, createdAt: bigint): MappedState {
  const startedAt = dockerTimeToNanos(s.StartedAt);
  const finishedAt = dockerTimeToNanos(s.FinishedAt);
  const exitCode = s.ExitCode ?? 0;
  const base = { exitCode, startedAt, finishedAt, message: s.Error ?? '' };
  if (s.Running || s.Status === 'running') return { ...base, state: ContainerState.RUNNING, reason: '', message: '' };
  // dockershim's rule: not running and finished is exited, whatever else Docker says
  // (dead, or being removed, still ran and ended: its exit code and reason stand).
  if (s.Status === 'exited' || (finishedAt > 0n && s.Status !== 'paused' && s.Status !== 'restarting')) {
    const reason = s.OOMKilled ? 'OOMKilled' : exitCode === 0 ? 'Completed' : 'Error';
    return { ...base, state: ContainerState.EXITED, reason };
  }
  if (s.Status === 'created') {
    // A failed start: the times are the creation's so nobody reads a start that never was.
    if (exitCode !== 0 || s.Error) return { ...base, state: ContainerState.EXITED, reason: 'StartError', startedAt: createdAt, finishedAt: createdAt };
    return { ...base, state: ContainerState.CREATED, reason: '' };
  }
  return { ...base, state: ContainerState.UNKNOWN_UNSPECIFIED, reason: '' };
}

/**
 * The image ID as the kubelet reports it for Docker (imageID in the pod status):
 * docker-pullable://<repo>@sha256:... when the image has a repo digest, else docker://sha256:<id>.
 */
export function imageRef(imageId: string, repoDigests: readonly string[] | null | undefined): string {
  const digest = (repoDigests ?? []).find((d) => !d.startsWith('<none>@'));
  return digest ? `docker-pullable://${digest}` : `docker://${imageId}`;
}

/** A user as the image declares it ("name", "uid", "uid:gid", "name:group"): would it run as root? */
export function imageUserIsRoot(user: string | null | undefined): boolean {
  const u = (user ?? '').split(':')[0]?.trim() ?? '';
  return u === '' || u === 'root' || /^0+$/.test(u);
}

/** The user part when it is not numeric (the kubelet cannot tell such a user is not root). */
export function imageUserName(user: string | null | undefined): string | undefined {
  const u = (user ?? '').split(':')[0]?.trim() ?? '';
  return u === '' || /^\d+$/.test(u) ? undefined : u;
}

/**
 * Why a runAsNonRoot container may not run, in the kubelet's words
 * (kuberuntime verifyRunAsNonRoot), or undefined when it may.
 */
export function nonRootViolation(
  sc: { runAsNonRoot: boolean; runAsUser?: bigint | undefined },
  imageUser: string | null | undefined,
  who: string,
): string | undefined {
  if (!sc.runAsNonRoot) return undefined;
  if (sc.runAsUser !== undefined) return sc.runAsUser === 0n ? `container's runAsUser breaks non-root policy (${who})` : undefined;
  if (imageUserIsRoot(imageUser)) return `container has runAsNonRoot and image will run as root (${who})`;
  const name = imageUserName(imageUser);
  if (name !== undefined) return `container has runAsNonRoot and image has non-numeric user (${name}), cannot verify user is non-root (${who})`;
  return undefined;
}

/** Docker's User: "uid[:gid]"; a group without a user is refused (as dockershim). */
export function dockerUser(runAsUser: bigint | undefined, runAsGroup: bigint | undefined): string | undefined {
  if (runAsUser === undefined) {
    if (runAsGroup !== undefined) throw new Error('runAsGroup is specified without a runAsUser');
    return undefined;
  }
  return runAsGroup === undefined ? String(runAsUser) : `${runAsUser}:${runAsGroup}`;
}

/** Mounts as Docker binds "host:container[:ro,rslave|rshared]"; private is Docker's default. */
export function mountBinds(mounts: readonly Mount[]): string[] {
  return mounts.map((m) => {
    const attrs: string[] = [];
    if (m.readonly) attrs.push('ro');
    if (m.propagation === MountPropagation.HOST_TO_CONTAINER) attrs.push('rslave');
    if (m.propagation === MountPropagation.BIDIRECTIONAL) attrs.push('rshared');
    const bind = `${m.hostPath}:${m.containerPath}`;
    return attrs.length ? `${bind}:${attrs.join(',')}` : bind;
  });
}

const PROTOCOL: Record<Protocol, string> = { [Protocol.TCP_UNSPECIFIED]: 'tcp', [Protocol.UDP]: 'udp', [Protocol.SCTP]: 'sctp' };

/** Port mappings as Docker's exposed ports and bindings; a mapping without a host port publishes nothing (as dockershim). */
export function portBindings(mappings: readonly PortMapping[]): {
  exposed: Record<string, Record<string, never>>;
  bindings: Record<string, { HostIp: string; HostPort: string }[]>;
} {
  const exposed: Record<string, Record<string, never>> = {};
  const bindings: Record<string, { HostIp: string; HostPort: string }[]> = {};
  for (const pm of mappings) {
    if (!pm.hostPort) continue;
    const key = `${pm.containerPort}/${PROTOCOL[pm.protocol] ?? 'tcp'}`;
    exposed[key] = {};
    (bindings[key] ??= []).push({ HostIp: pm.hostIp, HostPort: String(pm.hostPort) });
  }
  return { exposed, bindings };
}

/** Host aliases as Docker's ExtraHosts ("name:ip"). */
export function extraHosts(aliases: readonly HostAlias[]): string[] {
  return aliases.flatMap((a) => a.hostnames.map((h) => `${h}:${a.ip}`));
}

/** What a list filter asks of one item (undefined fields: any). */
export interface ItemFilter<S> {
  id?: string;
  state?: S | undefined;
  labelSelector?: Record<string, string>;
  podSandboxId?: string;
}

/** Whether an item passes a CRI list filter: ID prefix, state, sandbox, and every label of the selector. */
export function matchesFilter<S>(
  item: { id: string; state: S; labels: Record<string, string>; podSandboxId?: string },
  filter: ItemFilter<S> | undefined,
): boolean {
  if (!filter) return true;
  if (filter.id && !item.id.startsWith(filter.id)) return false;
  if (filter.state !== undefined && item.state !== filter.state) return false;
  if (filter.podSandboxId && !(item.podSandboxId ?? '').startsWith(filter.podSandboxId)) return false;
  return Object.entries(filter.labelSelector ?? {}).every(([k, v]) => item.labels[k] === v);
}

/** Docker's list filter for what this node's executor made, of one kind. */
export function nodeListFilter(nodeName: string, type: typeof TYPE_SANDBOX | typeof TYPE_CONTAINER, extra: Record<string, string> = {}): Record<string, string[]> {
  const label = [`${LABEL.node}=${nodeName}`, `${LABEL.type}=${type}`, ...Object.entries(extra).map(([k, v]) => `${k}=${v}`)];
  return { label };
}

export const sandboxState = (running: boolean | undefined): PodSandboxState => (running ? PodSandboxState.READY : PodSandboxState.NOTREADY_UNSPECIFIED);

/** Whether a failed pull means "no such image / no access" (5) rather than a registry that cannot be reached (14). */
export function pullErrorIsNotFound(statusCode: number | undefined, message: string): boolean {
  if (statusCode === 404 || statusCode === 401 || statusCode === 403) return true;
  return /not found|manifest unknown|pull access denied|repository does not exist|unauthorized|denied|no such image/i.test(message);
}

/**
 * Reads Docker's multiplexed stdout/stderr stream (8-byte frame headers: stream type,
 * 3 zero bytes, big-endian length), keeping at most `limit` bytes of each stream so a
 * chatty command cannot outgrow a NATS message.
 */
export class Demuxer {
  private pending: Buffer = Buffer.alloc(0);
  private readonly out: Buffer[] = [];
  private readonly err: Buffer[] = [];
  private outLen = 0;
  private errLen = 0;

  constructor(private readonly limit: number) {}

  push(chunk: Buffer): void {
    this.pending = this.pending.length ? Buffer.concat([this.pending, chunk]) : chunk;
    while (this.pending.length >= 8) {
      const size = this.pending.readUInt32BE(4);
      if (this.pending.length < 8 + size) break;
      const payload = this.pending.subarray(8, 8 + size);
      if (this.pending[0] === 2) this.errLen = this.keep(this.err, this.errLen, payload);
      else this.outLen = this.keep(this.out, this.outLen, payload);
      this.pending = this.pending.subarray(8 + size);
    }
  }

  private keep(into: Buffer[], len: number, payload: Buffer): number {
    const room = this.limit - len;
    if (room <= 0) return len;
    const part = payload.length > room ? payload.subarray(0, room) : payload;
    into.push(Buffer.from(part));
    return len + part.length;
  }

  get stdout(): Buffer {
    return Buffer.concat(this.out);
  }

  get stderr(): Buffer {
    return Buffer.concat(this.err);
  }
}

/** Docker's multiplexed log stream (no TTY) as one byte stream, stdout and stderr in the order written. */
export function demuxInOrder(raw: Buffer): Buffer {
  const parts: Buffer[] = [];
  let at = 0;
  while (at + 8 <= raw.length) {
    const size = raw.readUInt32BE(at + 4);
    parts.push(raw.subarray(at + 8, Math.min(raw.length, at + 8 + size)));
    at += 8 + size;
  }
  return Buffer.concat(parts);
}
