import { inject, injectable } from 'tsyringe';
import type { Duplex } from 'node:stream';
import type Docker from 'dockerode';
import { ErrorCode, HandlerError } from '@splitlet/bus';
import { PidNamespace, type ContainerFilter, type ContainerState, type CreateContainerRequest, type ExecSyncRequest, type LinuxContainerSecurityContext } from '@splitlet/contracts';
import { asStartError, dockerCall, isConflict, isNotFound, isNotModified, toHandlerError, type DockerApi } from './docker';
import {
  Demuxer,
  demuxInOrder,
  LABEL,
  TYPE_CONTAINER,
  TYPE_SANDBOX,
  containerName,
  dockerTimeToNanos,
  dockerUser,
  extractLabels,
  imageRef,
  makeLabels,
  mapContainerState,
  matchesFilter,
  mountBinds,
  nonRootViolation,
  parseName,
} from './docker-mapping';
import { Images } from './images';
import { OomKills } from './oom-kills';
import { Owned } from './owned';
import { requireBindPaths, requireContainerId, requireContainerName, requireImageRef } from './request-validation';
import { RT } from './tokens';

/** How long an image's repo digests are kept (ContainerStatus.imageRef). */
const DIGESTS_TTL_MS = 10_000;

/** setTimeout's longest delay (2^31 - 1 ms), in whole seconds. */
const MAX_TIMEOUT_SECONDS = Math.floor((2 ** 31 - 1) / 1000);

/** Most of each output stream ExecSync keeps: the reply must fit in one NATS message. */
const EXEC_OUTPUT_LIMIT = 256 * 1024;

/** The contract's ContainerStatus, as a plain object the reply is built from. */
export interface ContainerStatusInfo {
  id: string;
  metadata: { name: string; attempt: number };
  state: ContainerState;
  createdAt: bigint;
  startedAt: bigint;
  finishedAt: bigint;
  exitCode: number;
  image: string;
  imageRef: string;
  imageId: string;
  reason: string;
  message: string;
  labels: Record<string, string>;
  annotations: Record<string, string>;
  podSandboxId: string;
  mounts: { containerPath: string; hostPath: string; readonly: boolean }[];
}

/** A pod's app containers, in the sandbox's network and IPC namespaces. */
@injectable()
export class Containers {
  constructor(
    @inject(RT.Docker) private readonly docker: DockerApi,
    @inject(Owned) private readonly owned: Owned,
    @inject(Images) private readonly images: Images,
    @inject(OomKills) private readonly oomKills: OomKills,
  ) {}

  /** Creates the container; the same pod UID, container name and attempt again yields the same container. */
  async create(req: CreateContainerRequest): Promise<string> {
    const config = req.config;
    const meta = config?.metadata;
    if (!config || !meta?.name || !config.image) throw new HandlerError(ErrorCode.InvalidArgument, 'container config with metadata name and image is required');
    requireContainerName(meta.name);
    requireImageRef(config.image);
    requireBindPaths(config.mounts);
    const sandbox = await this.owned.inspect(requireContainerId(req.podSandboxId, 'pod sandbox'), TYPE_SANDBOX);
    if (!sandbox) throw new HandlerError(ErrorCode.NotFound, `pod sandbox ${JSON.stringify(req.podSandboxId)} not found`);
    const sl = sandbox.Config.Labels ?? {};
    const pod = { name: sl[LABEL.podName] ?? '', namespace: sl[LABEL.podNamespace] ?? '', uid: sl[LABEL.podUid] ?? '' };

    const sc = config.securityContext;
    if (sc?.runAsNonRoot) await this.refuseRoot(config.image, sc.runAsUser, `pod: "${pod.name}_${pod.namespace}(${pod.uid})", container: ${meta.name}`);
    let user: string | undefined;
    try {
      user = dockerUser(sc?.runAsUser, sc?.runAsGroup);
    } catch (err) {
      throw new HandlerError(ErrorCode.InvalidArgument, (err as Error).message);
    }

    const hostNetwork = sandbox.HostConfig.NetworkMode === 'host';
    const pidMode = await this.pidMode(sc, sandbox);
    const r = config.resources;
    const nonZero = (v: bigint | undefined) => (v ? Number(v) : undefined);
    const name = containerName(pod, meta);
    const opts: Docker.ContainerCreateOptions = {
      name,
      Image: config.image,
      // Unset (not empty) keeps the image's: an empty Entrypoint would erase it.
      Entrypoint: config.command.length ? config.command : undefined,
      Cmd: config.args.length ? config.args : undefined,
      Env: config.envs.map((e) => `${e.key}=${e.value}`),
      WorkingDir: config.workingDir || undefined,
      Labels: {
        ...makeLabels(config.labels, config.annotations),
        [LABEL.podName]: pod.name,
        [LABEL.podNamespace]: pod.namespace,
        [LABEL.podUid]: pod.uid,
        [LABEL.containerName]: meta.name,
        [LABEL.type]: TYPE_CONTAINER,
        [LABEL.sandboxId]: sandbox.Id,
        [LABEL.node]: this.owned.nodeName,
      },
      OpenStdin: config.stdin,
      StdinOnce: config.stdinOnce,
      Tty: config.tty,
      User: user,
      StopSignal: config.stopSignal || undefined,
      // Probes are the prober's, not Docker's (as dockershim).
      Healthcheck: { Test: ['NONE'] },
      HostConfig: {
        Binds: mountBinds(config.mounts),
        NetworkMode: hostNetwork ? 'host' : `container:${sandbox.Id}`,
        IpcMode: `container:${sandbox.Id}`,
        PidMode: pidMode,
        RestartPolicy: { Name: 'no' },
        CpuShares: nonZero(r?.cpuShares),
        CpuQuota: nonZero(r?.cpuQuota),
        CpuPeriod: nonZero(r?.cpuPeriod),
        Memory: nonZero(r?.memoryLimitInBytes),
        // No swap beyond the limit (dockershim's MemorySwap = Memory): over it, the OOM killer.
        MemorySwap: nonZero(r?.memoryLimitInBytes),
        Privileged: sc?.privileged ?? false,
        CapAdd: sc?.capabilities?.addCapabilities ?? [],
        CapDrop: sc?.capabilities?.dropCapabilities ?? [],
        GroupAdd: (sc?.supplementalGroups ?? []).map(String),
        ReadonlyRootfs: sc?.readonlyRootfs ?? false,
        SecurityOpt: sc?.noNewPrivs ? ['no-new-privileges'] : [],
      },
    };
    try {
      return (await this.docker.createContainer(opts)).id;
    } catch (err) {
      if (!isConflict(err)) throw toHandlerError(err);
      const existing = await this.owned.inspect(name, TYPE_CONTAINER);
      if (!existing) throw new HandlerError(ErrorCode.AlreadyExists, `a container named ${name} exists but is not this node's`);
      return existing.Id;
    }
  }

  /** Starts it; a start that fails answers 13 with Docker's message, which the status then shows. */
  async start(id: string): Promise<void> {
    const c = await this.require(id);
    try {
      await this.docker.getContainer(c.Id).start();
    } catch (err) {
      if (!isNotModified(err)) throw asStartError(err);
    }
  }

  /** Docker stop: the container's stop signal, then SIGKILL after `timeout` seconds; stopped or gone is fine. */
  async stop(id: string, timeout: bigint): Promise<void> {
    const c = await this.owned.inspect(id, TYPE_CONTAINER);
    if (!c) return;
    try {
      await this.docker.getContainer(c.Id).stop({ t: Math.max(0, Number(timeout)) });
    } catch (err) {
      if (!isNotModified(err) && !isNotFound(err)) throw toHandlerError(err);
    }
  }

  async remove(id: string): Promise<void> {
    const c = await this.owned.inspect(id, TYPE_CONTAINER);
    if (!c) return;
    try {
      await this.docker.getContainer(c.Id).remove({ force: true, v: true });
    } catch (err) {
      if (!isNotFound(err)) throw toHandlerError(err);
    }
  }

  async status(id: string): Promise<ContainerStatusInfo> {
    const c = await this.require(id);
    return this.toStatus(c);
  }

  async list(filter: ContainerFilter | undefined): Promise<ContainerStatusInfo[]> {
    const listed = await this.owned.list(TYPE_CONTAINER, filter?.labelSelector ?? {});
    const found = await this.owned.inspectAll(listed, TYPE_CONTAINER);
    const all = await Promise.all(found.map((c) => this.toStatus(c)));
    return all.filter((s) => matchesFilter(s, filter && { id: filter.id, state: filter.state, podSandboxId: filter.podSandboxId, labelSelector: filter.labelSelector }));
  }

  /** The last `lines` lines of the container's log, at most maxBytes of them (from the end). */
  async logTail(id: string, lines: number, maxBytes: number): Promise<Uint8Array> {
    const c = await this.require(id);
    const raw = (await dockerCall(() => this.docker.getContainer(c.Id).logs({ stdout: true, stderr: true, follow: false, tail: Math.max(1, lines) }))) as unknown as Buffer;
    const text = c.Config.Tty ? Buffer.from(raw) : demuxInOrder(Buffer.from(raw));
    return maxBytes > 0 && text.length > maxBytes ? text.subarray(text.length - maxBytes) : text;
  }

  /**
   * Runs the command in the container and collects its stdout and stderr apart. A
   * timeout answers 4; Docker cannot kill an exec, so the command may outlive it.
   */
  async execSync(req: ExecSyncRequest): Promise<{ stdout: Uint8Array; stderr: Uint8Array; exitCode: number }> {
    if (!req.cmd.length) throw new HandlerError(ErrorCode.InvalidArgument, 'cmd is required');
    const c = await this.require(req.containerId);
    const exec = await dockerCall(() => this.docker.getContainer(c.Id).exec({ Cmd: req.cmd, AttachStdout: true, AttachStderr: true, Tty: false }));
    const stream = await dockerCall(() => exec.start({ hijack: true, stdin: false }));
    const out = new Demuxer(EXEC_OUTPUT_LIMIT);
    const done = new Promise<void>((resolve, reject) => {
      stream.on('data', (d: Buffer) => out.push(d));
      stream.on('end', resolve);
      stream.on('close', resolve);
      stream.on('error', reject);
    });
    // After a timeout nobody awaits it any more; a late stream error must not go unhandled.
    done.catch(() => undefined);
    // Past the longest timer Node keeps (24.8 days) a timeout would fire at once: it means none.
    const seconds = req.timeout > BigInt(MAX_TIMEOUT_SECONDS) ? 0 : Number(req.timeout);
    if (seconds > 0) await withTimeout(done, seconds, stream);
    else await done;
    return { stdout: out.stdout, stderr: out.stderr, exitCode: await exitCodeOf(exec) };
  }

  /** runAsNonRoot: refuses (9) a container that would run as root, in the kubelet's words. */
  private async refuseRoot(ref: string, runAsUser: bigint | undefined, who: string): Promise<void> {
    // Only the image's user needs the image; an absent one is left to the create, which answers 5 in Docker's words.
    const image = runAsUser === undefined ? await this.images.inspect(ref) : undefined;
    if (runAsUser === undefined && !image) return;
    const refusal = nonRootViolation({ runAsNonRoot: true, runAsUser }, image?.Config?.User, who);
    if (refusal) throw new HandlerError(ErrorCode.FailedPrecondition, refusal);
  }

  /**
   * Docker's PidMode for the CRI's pid namespace option, as dockershim set it: the
   * container's own (unset), the sandbox's (shareProcessNamespace), the host's
   * (hostPID), or a target container's — which must be a running container of the
   * same sandbox: no caller joins another pod's processes.
   */
  private async pidMode(sc: LinuxContainerSecurityContext | undefined, sandbox: Docker.ContainerInspectInfo): Promise<string | undefined> {
    switch (sc?.pidNamespace ?? PidNamespace.CONTAINER_UNSPECIFIED) {
      case PidNamespace.POD:
        return `container:${sandbox.Id}`;
      case PidNamespace.NODE:
        return 'host';
      case PidNamespace.TARGET: {
        const target = await this.owned.inspect(requireContainerId(sc?.pidTargetId ?? '', 'target container'), TYPE_CONTAINER);
        if (!target || target.Config.Labels?.[LABEL.sandboxId] !== sandbox.Id) throw new HandlerError(ErrorCode.NotFound, `target container ${JSON.stringify(sc?.pidTargetId)} is not a container of pod sandbox ${sandbox.Id}`);
        // Not 9 (FailedPrecondition): pod-sync reads that as a config error, and the kubelet says CreateContainerError here.
        if (!target.State.Running) throw new HandlerError(ErrorCode.NotFound, `target container ${target.Id} is not running`);
        return `container:${target.Id}`;
      }
      default:
        return undefined;
    }
  }

  private async require(id: string): Promise<Docker.ContainerInspectInfo> {
    const c = await this.owned.inspect(id, TYPE_CONTAINER);
    if (!c) throw new HandlerError(ErrorCode.NotFound, `No such container: ${id}`);
    return c;
  }

  /**
   * An image's repo digests by image ID, kept a few seconds: every list of a pod's
   * containers needs them, and an image ID's digests change only on a pull or push.
   */
  private readonly digests = new Map<string, { at: number; value: Promise<string[] | undefined> }>();

  private async toStatus(c: Docker.ContainerInspectInfo): Promise<ContainerStatusInfo> {
    const now = Date.now();
    let d = this.digests.get(c.Image);
    if (!d || now - d.at > DIGESTS_TTL_MS) {
      if (this.digests.size > 1000) this.digests.clear();
      d = { at: now, value: this.images.inspect(c.Image).then((i) => i?.RepoDigests) };
      d.value.catch(() => this.digests.delete(c.Image));
      this.digests.set(c.Image, d);
    }
    return toContainerStatus(c, await d.value, this.oomKills.has(c.Id));
  }
}

/** oomKilled: Docker sent an "oom" event for it, whatever its State says (OomKills). */
export function toContainerStatus(c: Docker.ContainerInspectInfo, repoDigests: readonly string[] | undefined, oomKilled = false): ContainerStatusInfo {
  const raw = c.Config.Labels ?? {};
  const parsed = parseName(c.Name);
  const createdAt = dockerTimeToNanos(c.Created);
  const s = mapContainerState(oomKilled ? { ...c.State, OOMKilled: true } : c.State, createdAt);
  const { labels, annotations } = extractLabels(raw);
  return {
    id: c.Id,
    metadata: { name: raw[LABEL.containerName] ?? parsed?.containerName ?? '', attempt: parsed?.attempt ?? 0 },
    state: s.state,
    createdAt,
    startedAt: s.startedAt,
    finishedAt: s.finishedAt,
    exitCode: s.exitCode,
    image: c.Config.Image,
    imageRef: imageRef(c.Image, repoDigests),
    imageId: c.Image,
    reason: s.reason,
    message: s.message,
    labels,
    annotations,
    podSandboxId: raw[LABEL.sandboxId] ?? '',
    mounts: (c.Mounts ?? []).filter((m) => m.Type === 'bind').map((m) => ({ containerPath: m.Destination, hostPath: m.Source, readonly: !m.RW })),
  };
}

async function withTimeout(done: Promise<void>, seconds: number, stream: Duplex): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      // Frees the handler and the connection; the command itself runs on in the container.
      stream.destroy();
      reject(new HandlerError(ErrorCode.DeadlineExceeded, `command timed out after ${seconds}s`));
    }, seconds * 1000);
  });
  try {
    await Promise.race([done, timedOut]);
  } finally {
    clearTimeout(timer);
  }
}

/** Docker may report the exec still running for a moment after its output ended. */
async function exitCodeOf(exec: Docker.Exec): Promise<number> {
  for (let i = 0; i < 50; i++) {
    const info = await dockerCall(() => exec.inspect());
    if (!info.Running && info.ExitCode !== null) return info.ExitCode;
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new HandlerError(ErrorCode.Internal, 'exec ended but Docker reports it still running');
}
