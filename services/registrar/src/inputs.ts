import { setTimeout as sleep } from 'node:timers/promises';
import { Svcm } from '@nats-io/services';
import type { NatsConnection } from '@nats-io/transport-node';
import { inject, injectable } from 'tsyringe';
import { createRpcClient, isBusError, ResponderLostError, type ServiceClient } from '@splitlet/bus';
import { ImageService, RuntimeService, type FilesystemUsage, type Image } from '@splitlet/contracts';
import { TOKENS, type Clock } from '@splitlet/service';
import type { Logger } from '@splitlet/telemetry';
import { allocatableMayBeMet } from '@splitlet/eviction';
import { measureHost, readHostFacts, type HostMeasurements } from './host-facts';
import { reservedMemoryBytes, statusThresholds, type NodeInputs, type RuntimeView, type StatusSettings } from './node-status';
import type { ShutdownStatus } from './node-shutdown';
import type { RequiredService } from './required-services';
import { PLEG_RELIST_THRESHOLD_MS, PlegHealth } from './pleg';
import { REG } from './tokens';

/**
 * How long the runtime (and each required service) may fail to answer before the node says so: the
 * kubelet's runtimeState reports "container runtime is down" only when no runtime
 * status succeeded for maxWaitForContainerRuntime (30 s), so one slow answer on a
 * loaded node does not turn it NotReady.
 */
export const RUNTIME_SYNC_THRESHOLD_MS = 30_000;

/** The largest size in bytes the runtime is believed (2^53 - 1, 8 PiB: exact as a JSON number, within int64). */
const MAX_PLAUSIBLE_BYTES = BigInt(Number.MAX_SAFE_INTEGER);

/** The last value that came, while it is younger than the threshold. */
export class RecentValue<T> {
  private last: { value: T; at: number } | undefined;
  constructor(private readonly thresholdMs: number) {}

  set(value: T, now: number): void {
    this.last = { value, at: now };
  }

  get(now: number): T | undefined {
    return this.last && now - this.last.at < this.thresholdMs ? this.last.value : undefined;
  }
}

/** Gathers what a node status is computed from. */
export interface NodeInputsSource {
  gather(): Promise<NodeInputs>;
}

/** The settings BusNodeInputs reads (registrar's config). */
export interface InputSettings {
  SPLITLET_HOST_ROOT: string;
  SPLITLET_NODE_IP?: string;
  SPLITLET_RUNTIME_REQUEST_TIMEOUT_MS: number;
  SPLITLET_NODE_REQUIRED_SERVICES: readonly RequiredService[];
  /** The PLEG relist threshold (the kubelet's 3 minutes); unset: that. */
  SPLITLET_PLEG_RELIST_THRESHOLD_MS?: number;
}

/**
 * Reads the host, and asks runtime-executor (runtime status, version, images, image
 * filesystem) and each required service (is it there?) over NATS. A service that does
 * not answer is an input too: the node is then not ready, and says why.
 *
 * A required service is there when one of this node's replicas answers a micro PING
 * ($SRV.PING.<name>) now or did within the threshold: a heartbeat that nothing stale
 * keeps alive (an answer counts only when it comes), and that no other node's replica
 * can give (the bus lets a service reply only into its own node's inboxes,
 * libs/bus-auth); the `node` metadata tells this node's from the refused others'.
 */
@injectable()
export class BusNodeInputs implements NodeInputsSource {
  private readonly runtime: ServiceClient<typeof RuntimeService>;
  private readonly images: ServiceClient<typeof ImageService>;
  /** micro's PING client for the required services (one for every gather). */
  private readonly pinger: ReturnType<Svcm['client']>;
  private lastRuntime: RuntimeView['state'] | undefined;
  /** The last runtime view that answered, within the threshold. */
  private readonly answered = new RecentValue<RuntimeView>(RUNTIME_SYNC_THRESHOLD_MS);
  /** Per required service: one of this node's replicas answered, within the threshold. */
  private readonly seen: ReadonlyMap<RequiredService, RecentValue<true>>;
  /** The services last found missing, to log each change once. */
  private lastMissing = new Set<RequiredService>();
  /** The kubelet's PLEG health check: the node's relists through runtime-executor. */
  private readonly pleg: PlegHealth;
  /** The PLEG error last logged, to log each change once. */
  private lastPleg: string | undefined;

  constructor(
    @inject(TOKENS.Nats) private readonly nc: NatsConnection,
    @inject(TOKENS.NodeName) private readonly nodeName: string,
    @inject(TOKENS.Logger) private readonly logger: Logger,
    @inject(TOKENS.Config) private readonly settings: InputSettings,
    @inject(TOKENS.Clock) private readonly clock: Clock,
    /** The status's thresholds and reservations: allocatableMemory.available's input is measured against them. */
    @inject(REG.StatusSettings) private readonly status: StatusSettings,
    @inject(REG.Shutdown) private readonly shutdown: ShutdownStatus,
  ) {
    const opts = { timeoutMs: settings.SPLITLET_RUNTIME_REQUEST_TIMEOUT_MS };
    this.runtime = createRpcClient(nc, nodeName, RuntimeService, opts);
    this.images = createRpcClient(nc, nodeName, ImageService, opts);
    this.pinger = new Svcm(nc).client({ strategy: 'stall', maxWait: settings.SPLITLET_RUNTIME_REQUEST_TIMEOUT_MS, stall: 200 });
    this.seen = new Map(settings.SPLITLET_NODE_REQUIRED_SERVICES.map((s) => [s, new RecentValue<true>(RUNTIME_SYNC_THRESHOLD_MS)]));
    const threshold = settings.SPLITLET_PLEG_RELIST_THRESHOLD_MS ?? PLEG_RELIST_THRESHOLD_MS;
    // A relist may take as long as its threshold: runtime-executor's own Docker deadline (2 min) ends a hung one first,
    // and a shorter wait here would start the next while Docker still holds the last one's inspects.
    const relistOpts = { timeoutMs: threshold };
    this.pleg = new PlegHealth(
      () => Promise.all([this.runtime.listPodSandbox({}, relistOpts), this.runtime.listContainers({}, relistOpts)]),
      () => this.clock.now(),
      threshold,
      (err) => this.logger.debug({ err: (err as Error).message }, 'relist failed'),
    );
  }

  async gather(): Promise<NodeInputs> {
    const root = this.settings.SPLITLET_HOST_ROOT;
    // A relist runs beside the updates and never holds one up, but the first is waited for (as long as a runtime call):
    // the node is not ready until one has succeeded, and a runtime that answers should not show "pleg has yet to be
    // successful" first.
    const relisting = this.pleg.relist();
    if (!this.pleg.everSucceeded) await Promise.race([relisting, sleep(this.settings.SPLITLET_RUNTIME_REQUEST_TIMEOUT_MS, undefined, { ref: false })]);
    const [facts, measurements, runtime, images, imageFs, missingServices] = await Promise.all([
      readHostFacts(root, this.settings.SPLITLET_NODE_IP),
      measureHost(root).catch((err: unknown) => {
        this.logger.warn({ err: (err as Error).message }, 'cannot measure memory and PIDs');
        return undefined;
      }),
      this.runtimeView(),
      this.images.listImages({}).then((r) => this.plausibleImages(r.images)).catch(() => undefined),
      this.images.imageFsInfo({}).then((r) => this.plausibleImageFs(r.imageFilesystems[0])).catch(() => undefined),
      this.missingServices(),
    ]);
    const podsWorkingSetBytes = measurements ? await this.podsWorkingSet(measurements) : undefined;
    const plegUnhealthy = this.plegHealth();
    return {
      facts,
      runtime,
      ...(plegUnhealthy ? { plegUnhealthy } : {}),
      missingServices,
      shuttingDown: this.shutdown.shuttingDown(),
      ...(measurements ? { measurements } : {}),
      ...(images ? { images } : {}),
      ...(imageFs ? { imageFs } : {}),
      ...(podsWorkingSetBytes !== undefined ? { podsWorkingSetBytes } : {}),
    };
  }

  /**
   * allocatableMemory.available's input: the node's containers' working set together,
   * asked for only when the node's own memory leaves an allocatable threshold within
   * reach (a stats call per container otherwise every update); no answer: not observed.
   */
  private async podsWorkingSet(m: HostMeasurements): Promise<bigint | undefined> {
    if (!allocatableMayBeMet(statusThresholds(this.status), m.memoryCapacityBytes, m.memoryAvailableBytes, reservedMemoryBytes(this.status))) return undefined;
    return this.runtime
      .listContainerStats({})
      .then((r) => r.stats.reduce((sum, st) => sum + st.memoryWorkingSetBytes, 0n))
      .catch(() => undefined);
  }

  private async runtimeView(): Promise<RuntimeView> {
    let view: RuntimeView;
    try {
      const [status, version] = await Promise.all([this.runtime.status({}), this.runtime.version({ version: 'v1' })]);
      view = { state: 'answered', version, conditions: status.status?.conditions ?? [] };
      this.answered.set(view, this.clock.now());
    } catch (err) {
      if (!isBusError(err)) throw err;
      const why =
        err.kind === 'no-responders'
          ? 'runtime-executor is not running (no responders)'
          : err instanceof ResponderLostError
            ? `runtime-executor took the request and fell silent (no word for ${err.silentMs} ms)`
            : err.kind === 'timeout'
              ? `runtime-executor did not answer within ${this.settings.SPLITLET_RUNTIME_REQUEST_TIMEOUT_MS} ms`
              : err.message;
      // Within the threshold of its last answer the runtime counts as it was then.
      const recent = this.answered.get(this.clock.now());
      if (recent) this.logger.info({ why }, 'container runtime did not answer; still counted up (answered within 30 s)');
      view = recent ?? { state: 'unreachable', message: why };
    }
    if (view.state !== this.lastRuntime) {
      if (view.state === 'answered') this.logger.info({ runtime: `${view.version.runtimeName}://${view.version.runtimeVersion}` }, 'container runtime is ready');
      else if (view.state === 'unreachable') this.logger.warn({ why: view.message }, 'container runtime is not ready');
      this.lastRuntime = view.state;
    }
    return view;
  }

  /** The PLEG health check's error, logged when it changes (not every time the elapsed time does). */
  private plegHealth(): string | undefined {
    const why = this.pleg.unhealthy();
    const kind = why?.replace(/ active .* ago/, ' active … ago');
    if (kind !== this.lastPleg) {
      if (why) this.logger.warn({ why }, 'PLEG is not healthy: the node is not ready');
      else this.logger.info('PLEG is healthy again');
      this.lastPleg = kind;
    }
    return why;
  }

  /**
   * The runtime's answers are untrusted input (issue 14): an image whose size is past
   * what the Node's int64 sizeBytes holds exactly (2^53) made the API server refuse the
   * whole status patch; such an image is left out of the status.
   */
  private plausibleImages(images: Image[]): Image[] {
    const ok = images.filter((i) => i.size <= MAX_PLAUSIBLE_BYTES);
    if (ok.length < images.length) this.logger.warn({ count: images.length - ok.length }, 'images with an impossible size left out of the node status');
    return ok;
  }

  /**
   * An image filesystem with no capacity, or one past int64 (ephemeral-storage past
   * what the API server holds), or more free than there is, is no measurement: the
   * status keeps the last capacity, as for a runtime that did not answer.
   */
  private plausibleImageFs(fs: FilesystemUsage | undefined): FilesystemUsage | undefined {
    if (!fs) return undefined;
    if (fs.capacityBytes > 0n && fs.capacityBytes <= MAX_PLAUSIBLE_BYTES && fs.availableBytes <= fs.capacityBytes && fs.inodesFree <= fs.inodes) return fs;
    this.logger.warn({ capacity: String(fs.capacityBytes), available: String(fs.availableBytes), inodes: String(fs.inodes), inodesFree: String(fs.inodesFree) }, 'an impossible image filesystem left out of the node status');
    return undefined;
  }

  /** The required services, in the setting's order, none of whose replicas of this node answered a PING now or within the threshold; pinged in parallel. */
  private async missingServices(): Promise<RequiredService[]> {
    const required = this.settings.SPLITLET_NODE_REQUIRED_SERVICES;
    const answered = await Promise.all(required.map((s) => this.ping(s)));
    const now = this.clock.now();
    const missing = required.filter((s, i) => {
      const seen = this.seen.get(s)!;
      if (answered[i]) seen.set(true, now);
      return seen.get(now) !== true;
    });
    for (const s of missing) if (!this.lastMissing.has(s)) this.logger.warn({ service: s }, `${s} does not answer for this node: the node is not ready`);
    for (const s of this.lastMissing) if (!missing.includes(s)) this.logger.info({ service: s }, `${s} answers for this node again`);
    this.lastMissing = new Set(missing);
    return missing;
  }

  /** Whether a replica of this node's `service` answers a PING. */
  private async ping(service: RequiredService): Promise<boolean> {
    try {
      const pings = await this.pinger.ping(service);
      for await (const p of pings) if (p.metadata?.['node'] === this.nodeName) return true;
      return false;
    } catch {
      return false;
    }
  }
}
