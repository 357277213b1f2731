import { inject, injectable } from 'tsyringe';
import type Docker from 'dockerode';
import { ErrorCode, HandlerError } from '@splitlet/bus';
import type { PodSandboxConfig, PodSandboxFilter, PodSandboxState } from '@splitlet/contracts';
import { asStartError, dockerCall, isConflict, isNotFound, isNotModified, toHandlerError, type DockerApi } from './docker';
import {
  LABEL,
  SANDBOX_CONTAINER_NAME,
  TYPE_CONTAINER,
  TYPE_SANDBOX,
  dockerTimeToNanos,
  extraHosts,
  extractLabels,
  makeLabels,
  matchesFilter,
  parseName,
  portBindings,
  sandboxName,
  sandboxState,
} from './docker-mapping';
import { Images } from './images';
import { Owned } from './owned';
import { requireImageRef, requirePodMetadata } from './request-validation';
import { RT } from './tokens';

/**
 * dockershim's CPU shares for the pause container, which needs almost none. (Its
 * OomScoreAdj -998 is left out: lowering it needs CAP_SYS_RESOURCE, which a Docker
 * in a container, as in the lab, lacks, and runc then fails the start.)
 */
const SANDBOX_CPU_SHARES = 2;
/** dockershim's grace for the pause container on StopPodSandbox. */
const SANDBOX_STOP_SECONDS = 10;

/** The contract's PodSandboxStatus, as a plain object the reply is built from. */
export interface SandboxStatus {
  id: string;
  metadata: { name: string; uid: string; namespace: string; attempt: number };
  state: PodSandboxState;
  createdAt: bigint;
  network: { ip: string; additionalIps: string[] };
  labels: Record<string, string>;
  annotations: Record<string, string>;
  hostNetwork: boolean;
}

/** Pod sandboxes as pause containers that hold the pod's network and IPC namespaces. */
@injectable()
export class Sandboxes {
  constructor(
    @inject(RT.Docker) private readonly docker: DockerApi,
    @inject(RT.PauseImage) private readonly pauseImage: string,
    @inject(Owned) private readonly owned: Owned,
    @inject(Images) private readonly images: Images,
  ) {}

  /** Creates and starts the sandbox; the same pod UID and attempt again yields the same sandbox. */
  async run(config: PodSandboxConfig | undefined): Promise<string> {
    const m = config?.metadata;
    if (!config || !m?.name || !m.namespace || !m.uid) throw new HandlerError(ErrorCode.InvalidArgument, 'sandbox config with metadata name, namespace and uid is required');
    requirePodMetadata(m);
    const image = requireImageRef(config.sandboxImage || this.pauseImage);
    // As dockershim: a missing pause image is pulled rather than failing the pod.
    if (!(await this.images.inspect(image))) await this.images.pull(image, undefined);

    const hostNetwork = config.hostNetwork;
    const ports = hostNetwork ? { exposed: {}, bindings: {} } : portBindings(config.portMappings);
    const dns = config.dnsConfig;
    const name = sandboxName(m);
    const opts: Docker.ContainerCreateOptions = {
      name,
      Image: image,
      // The host network's pods carry the node's host name.
      Hostname: hostNetwork ? undefined : config.hostname || undefined,
      Labels: {
        ...makeLabels(config.labels, config.annotations),
        [LABEL.podName]: m.name,
        [LABEL.podNamespace]: m.namespace,
        [LABEL.podUid]: m.uid,
        [LABEL.containerName]: SANDBOX_CONTAINER_NAME,
        [LABEL.type]: TYPE_SANDBOX,
        [LABEL.node]: this.owned.nodeName,
      },
      ExposedPorts: ports.exposed,
      HostConfig: {
        NetworkMode: hostNetwork ? 'host' : 'bridge',
        // App containers join the sandbox's IPC namespace, which Docker allows only when shareable.
        IpcMode: 'shareable',
        PortBindings: ports.bindings,
        Dns: dns?.servers ?? [],
        DnsSearch: dns?.searches ?? [],
        DnsOptions: dns?.options ?? [],
        ExtraHosts: extraHosts(config.hostAliases),
        CpuShares: SANDBOX_CPU_SHARES,
        RestartPolicy: { Name: 'no' },
        // The pod's sysctls, set in the namespaces its containers join, as dockershim did
        // (applySandboxLinuxOptions). Docker refuses one that is not namespaced (code 3).
        ...(Object.keys(config.sysctls).length ? { Sysctls: { ...config.sysctls } } : {}),
      },
    };

    let id: string;
    let needsStart = true;
    try {
      id = (await this.docker.createContainer(opts)).id;
    } catch (err) {
      if (!isConflict(err)) throw toHandlerError(err);
      const existing = await this.owned.inspect(name, TYPE_SANDBOX);
      if (!existing) throw new HandlerError(ErrorCode.AlreadyExists, `a container named ${name} exists but is not this node's sandbox`);
      id = existing.Id;
      // Start only one that was created and never started (a retry after a crash); a
      // stopped sandbox stays stopped: the caller sees it not ready and makes a new attempt.
      needsStart = existing.State.Status === 'created' && !existing.State.Error;
    }
    if (needsStart) {
      try {
        await this.docker.getContainer(id).start();
      } catch (err) {
        if (isNotModified(err)) return id;
        // A sandbox that could not start (e.g. its host port is taken) is removed, as
        // dockershim does: nothing dead piles up, and the next attempt starts afresh.
        await this.docker.getContainer(id).remove({ force: true, v: true }).catch(() => undefined);
        throw asStartError(err, `failed to start sandbox container for pod "${m.name}"`);
      }
    }
    return id;
  }

  /** Stops every container of the sandbox (forcibly: the caller stopped them gracefully before), then the sandbox. */
  async stop(id: string): Promise<void> {
    const sandbox = await this.owned.inspect(id, TYPE_SANDBOX);
    const sandboxId = sandbox?.Id ?? id;
    const containers = await this.owned.list(TYPE_CONTAINER, { [LABEL.sandboxId]: sandboxId });
    await Promise.all(containers.filter((c) => c.State === 'running').map((c) => this.stopContainer(c.Id, 0)));
    if (sandbox) await this.stopContainer(sandbox.Id, SANDBOX_STOP_SECONDS);
  }

  /** Removes every container of the sandbox, then the sandbox; one already gone is fine. */
  async remove(id: string): Promise<void> {
    const sandbox = await this.owned.inspect(id, TYPE_SANDBOX);
    const sandboxId = sandbox?.Id ?? id;
    const containers = await this.owned.list(TYPE_CONTAINER, { [LABEL.sandboxId]: sandboxId });
    await Promise.all(containers.map((c) => this.removeContainer(c.Id)));
    if (sandbox) await this.removeContainer(sandbox.Id);
  }

  async status(id: string): Promise<SandboxStatus> {
    const info = await this.owned.inspect(id, TYPE_SANDBOX);
    if (!info) throw new HandlerError(ErrorCode.NotFound, `pod sandbox ${JSON.stringify(id)} not found`);
    return toSandboxStatus(info);
  }

  async list(filter: PodSandboxFilter | undefined): Promise<SandboxStatus[]> {
    const listed = await this.owned.list(TYPE_SANDBOX, filter?.labelSelector ?? {});
    const all = (await this.owned.inspectAll(listed, TYPE_SANDBOX)).map(toSandboxStatus);
    return all.filter((s) => matchesFilter(s, filter && { id: filter.id, state: filter.state, labelSelector: filter.labelSelector }));
  }

  private async stopContainer(id: string, seconds: number): Promise<void> {
    try {
      await this.docker.getContainer(id).stop({ t: seconds });
    } catch (err) {
      if (!isNotModified(err) && !isNotFound(err)) throw toHandlerError(err);
    }
  }

  private async removeContainer(id: string): Promise<void> {
    await dockerCall(() => this.docker.getContainer(id).remove({ force: true, v: true })).catch((err: unknown) => {
      if (!(err instanceof HandlerError && err.code === ErrorCode.NotFound)) throw err;
    });
  }
}

export function toSandboxStatus(info: Docker.ContainerInspectInfo): SandboxStatus {
  const raw = info.Config.Labels ?? {};
  const parsed = parseName(info.Name);
  const hostNetwork = info.HostConfig.NetworkMode === 'host';
  const { labels, annotations } = extractLabels(raw);
  return {
    id: info.Id,
    metadata: {
      name: raw[LABEL.podName] ?? parsed?.podName ?? '',
      uid: raw[LABEL.podUid] ?? parsed?.podUid ?? '',
      namespace: raw[LABEL.podNamespace] ?? parsed?.podNamespace ?? '',
      attempt: parsed?.attempt ?? 0,
    },
    state: sandboxState(info.State.Running),
    createdAt: dockerTimeToNanos(info.Created),
    // A host-network pod's IP is the node's, which the caller knows (as the kubelet does).
    network: hostNetwork ? { ip: '', additionalIps: [] } : podIps(info.NetworkSettings),
    labels,
    annotations,
    hostNetwork,
  };
}

function podIps(settings: Docker.ContainerInspectInfo['NetworkSettings']): { ip: string; additionalIps: string[] } {
  // Docker 20.10 still fills the deprecated top-level fields; the typings know only Networks.
  const ns = settings as typeof settings & { IPAddress?: string; GlobalIPv6Address?: string };
  const net = ns.Networks?.['bridge'] ?? Object.values(ns.Networks ?? {})[0];
  const ip = ns.IPAddress || net?.IPAddress || '';
  const v6 = ns.GlobalIPv6Address || net?.GlobalIPv6Address || '';
  return { ip, additionalIps: v6 ? [v6] : [] };
}
