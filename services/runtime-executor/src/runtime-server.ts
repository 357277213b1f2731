import { inject, injectable } from 'tsyringe';
import type { Service } from '@nats-io/services';
import { ErrorCode, HandlerError, serveRpc } from '@splitlet/bus';
import { RuntimeService } from '@splitlet/contracts';
import { TOKENS, untilAborted, type Runnable } from '@splitlet/service';
import type { Logger } from '@splitlet/telemetry';
import { unavailableOnError, type DockerApi } from './docker';
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
  ) {}

  async run(signal: AbortSignal): Promise<void> {
    serveRpc(
      this.micro,
      this.nodeName,
      RuntimeService,
      {
        ...notYet(RUNTIME_TODO),
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

/** Calls of the contract this executor does not serve yet: they answer 12 (unimplemented). */
const RUNTIME_TODO = ['runPodSandbox', 'stopPodSandbox', 'removePodSandbox', 'podSandboxStatus', 'listPodSandbox', 'createContainer', 'startContainer', 'stopContainer', 'removeContainer', 'listContainers', 'containerStatus', 'execSync'] as const;

export function notYet<K extends string>(names: readonly K[]): Record<K, () => Promise<never>> {
  const out = {} as Record<K, () => Promise<never>>;
  for (const n of names) out[n] = () => Promise.reject(new HandlerError(ErrorCode.Unimplemented, `${n} is not implemented yet`));
  return out;
}
