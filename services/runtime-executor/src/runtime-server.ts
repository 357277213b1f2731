import { inject, injectable } from 'tsyringe';
import { ContainerStatsReader } from './container-stats';
import type { Service } from '@nats-io/services';
import { ErrorCode, HandlerError, serveRpc } from '@splitlet/bus';
import { RuntimeService } from '@splitlet/contracts';
import { TOKENS, untilAborted, type Runnable } from '@splitlet/service';
import type { Logger } from '@splitlet/telemetry';
import { Containers } from './containers';
import { unavailableOnError, type DockerApi } from './docker';
import { Sandboxes } from './sandboxes';
import { requireContainerId } from './request-validation';
import { RT } from './tokens';

/** The contract version this executor speaks (CRI's is "v1"). */
export const CONTRACT_VERSION = 'v1';

/** Serves the CRI-shaped RuntimeService for this node from Docker. */
@injectable()
export class RuntimeServer implements Runnable {
  constructor(
    @inject(TOKENS.MicroService) private readonly micro: Service,
    @inject(TOKENS.NodeName) private readonly nodeName: string,
    @inject(RT.Docker) private readonly docker: DockerApi,
    @inject(TOKENS.Logger) private readonly logger: Logger,
    @inject(Sandboxes) private readonly sandboxes: Sandboxes,
    @inject(Containers) private readonly containers: Containers,
    @inject(ContainerStatsReader) private readonly stats: ContainerStatsReader,
  ) {}

  async run(signal: AbortSignal): Promise<void> {
    serveRpc(
      this.micro,
      this.nodeName,
      RuntimeService,
      {
        version: async () => {
          const v = await this.dockerCall(() => this.docker.version());
          return { version: CONTRACT_VERSION, runtimeName: 'docker', runtimeVersion: v.Version, runtimeApiVersion: v.ApiVersion };
        },
        status: async (req) => {
          try {
            const info = await this.docker.info();
            const details: Record<string, string> = req.verbose
              ? { dockerRootDir: String(info.DockerRootDir ?? ''), serverVersion: String(info.ServerVersion ?? '') }
              : {};
            return { status: { conditions: [ready('RuntimeReady'), ready('NetworkReady')] }, info: details };
          } catch (err) {
            // An unreachable Docker is an answer, not an error: the runtime is not ready.
            const message = `docker: ${(err as Error).message}`;
            return { status: { conditions: [notReady('RuntimeReady', message), notReady('NetworkReady', message)] } };
          }
        },
        runPodSandbox: async (req) => ({ podSandboxId: await this.sandboxes.run(req.config) }),
        stopPodSandbox: async (req) => {
          await this.sandboxes.stop(requireContainerId(req.podSandboxId, 'pod sandbox'));
          return {};
        },
        removePodSandbox: async (req) => {
          await this.sandboxes.remove(requireContainerId(req.podSandboxId, 'pod sandbox'));
          return {};
        },
        podSandboxStatus: async (req) => ({ status: await this.sandboxes.status(requireContainerId(req.podSandboxId, 'pod sandbox')) }),
        listPodSandbox: async (req) => ({ items: await this.sandboxes.list(req.filter) }),
        createContainer: async (req) => ({ containerId: await this.containers.create(req) }),
        startContainer: async (req) => {
          await this.containers.start(requireContainerId(req.containerId, 'container'));
          return {};
        },
        stopContainer: async (req) => {
          if (req.timeout < 0n) throw new HandlerError(ErrorCode.InvalidArgument, `invalid timeout ${req.timeout}: seconds, not negative`);
          await this.containers.stop(requireContainerId(req.containerId, 'container'), req.timeout);
          return {};
        },
        removeContainer: async (req) => {
          await this.containers.remove(requireContainerId(req.containerId, 'container'));
          return {};
        },
        listContainers: async (req) => ({ containers: await this.containers.list(req.filter) }),
        containerStatus: async (req) => ({ status: await this.containers.status(requireContainerId(req.containerId, 'container')) }),
        execSync: (req) => {
          requireContainerId(req.containerId, 'container');
          if (req.timeout < 0n) throw new HandlerError(ErrorCode.InvalidArgument, `invalid timeout ${req.timeout}: seconds, 0 for none`);
          return this.containers.execSync(req);
        },
        listContainerStats: async (req) => ({ stats: await this.stats.list(req.containerId, req.filesystem) }),
        containerLogTail: async (req) => ({ log: await this.containers.logTail(requireContainerId(req.containerId, 'container'), req.lines, req.maxBytes) }),
      },
      { logger: this.logger },
    );
    await untilAborted(signal);
  }

  private dockerCall<T>(fn: () => Promise<T>): Promise<T> {
    return unavailableOnError(fn);
  }
}

const ready = (type: string) => ({ type, status: true, reason: '', message: '' });
const notReady = (type: string, message: string) => ({ type, status: false, reason: 'DockerUnreachable', message });
