import { Svcm } from '@nats-io/services';
import type { NatsConnection } from '@nats-io/transport-node';
import { inject, injectable } from 'tsyringe';
import { createRpcClient, isBusError, type ServiceClient } from '@splitlet/bus';
import { ImageService, RuntimeService } from '@splitlet/contracts';
import { TOKENS, type Clock } from '@splitlet/service';
import type { Logger } from '@splitlet/telemetry';
import { measureHost, readHostFacts } from './host-facts';
import type { NodeInputs, RuntimeView } from './node-status';

/**
 * How long the runtime (and pod-sync) may fail to answer before the node says so: the
 * kubelet's runtimeState reports "container runtime is down" only when no runtime
 * status succeeded for maxWaitForContainerRuntime (30 s), so one slow answer on a
 * loaded node does not turn it NotReady.
 */
export const RUNTIME_SYNC_THRESHOLD_MS = 30_000;

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

export interface InputSettings {
  hostRoot: string;
  nodeIP?: string;
  requestTimeoutMs: number;
}

/**
 * Reads the host, and asks runtime-executor (runtime status, version, images, image
 * filesystem) and pod-sync (is it there?) over NATS. A service that does not answer
 * is an input too: the node is then not ready, and says why.
 */
@injectable()
export class BusNodeInputs implements NodeInputsSource {
  private readonly runtime: ServiceClient<typeof RuntimeService>;
  private readonly images: ServiceClient<typeof ImageService>;
  private lastRuntime: RuntimeView['state'] | undefined;
  /** The last runtime view that answered, within the threshold. */
  private readonly answered = new RecentValue<RuntimeView>(RUNTIME_SYNC_THRESHOLD_MS);
  /** A pod-sync of this node answered, within the threshold. */
  private readonly podSyncSeen = new RecentValue<true>(RUNTIME_SYNC_THRESHOLD_MS);

  constructor(
    @inject(TOKENS.Nats) private readonly nc: NatsConnection,
    @inject(TOKENS.NodeName) private readonly nodeName: string,
    @inject(TOKENS.Logger) private readonly logger: Logger,
    @inject(TOKENS.Config) private readonly settings: { SPLITLET_HOST_ROOT: string; SPLITLET_NODE_IP?: string; SPLITLET_RUNTIME_REQUEST_TIMEOUT_MS: number },
    @inject(TOKENS.Clock) private readonly clock: Clock,
  ) {
    const opts = { timeoutMs: settings.SPLITLET_RUNTIME_REQUEST_TIMEOUT_MS };
    this.runtime = createRpcClient(nc, nodeName, RuntimeService, opts);
    this.images = createRpcClient(nc, nodeName, ImageService, opts);
  }

  async gather(): Promise<NodeInputs> {
    const root = this.settings.SPLITLET_HOST_ROOT;
    const [facts, measurements, runtime, images, imageFs, podSyncPresent] = await Promise.all([
      readHostFacts(root, this.settings.SPLITLET_NODE_IP),
      measureHost(root).catch((err: unknown) => {
        this.logger.warn({ err: (err as Error).message }, 'cannot measure memory and PIDs');
        return undefined;
      }),
      this.runtimeView(),
      this.images.listImages({}).then((r) => r.images).catch(() => undefined),
      this.images.imageFsInfo({}).then((r) => r.imageFilesystems[0]).catch(() => undefined),
      this.podSyncPresent(),
    ]);
    return { facts, runtime, podSyncPresent, ...(measurements ? { measurements } : {}), ...(images ? { images } : {}), ...(imageFs ? { imageFs } : {}) };
  }

  private async runtimeView(): Promise<RuntimeView> {
    let view: RuntimeView;
    try {
      const [status, version] = await Promise.all([this.runtime.status({}), this.runtime.version({ version: 'v1' })]);
      view = { state: 'answered', version, conditions: status.status?.conditions ?? [] };
      this.answered.set(view, this.clock.now());
    } catch (err) {
      if (!isBusError(err)) throw err;
      const why = err.kind === 'no-responders' ? 'runtime-executor is not running (no responders)' : err.kind === 'timeout' ? `runtime-executor did not answer within ${this.settings.SPLITLET_RUNTIME_REQUEST_TIMEOUT_MS} ms` : err.message;
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

  /** A pod-sync of this node answered a PING now or within the threshold. */
  private async podSyncPresent(): Promise<boolean> {
    if (await this.pingPodSync()) this.podSyncSeen.set(true, this.clock.now());
    return this.podSyncSeen.get(this.clock.now()) === true;
  }

  private async pingPodSync(): Promise<boolean> {
    try {
      const pings = await new Svcm(this.nc).client({ strategy: 'stall', maxWait: this.settings.SPLITLET_RUNTIME_REQUEST_TIMEOUT_MS, stall: 200 }).ping('pod-sync');
      for await (const p of pings) if (p.metadata?.['node'] === this.nodeName) return true;
      return false;
    } catch {
      return false;
    }
  }
}
