import { inject, injectable } from 'tsyringe';
import type Docker from 'dockerode';
import { TOKENS } from '@splitlet/service';
import { dockerCall, isNotFound, type DockerApi } from './docker';
import { LABEL, nodeListFilter, type TYPE_CONTAINER, type TYPE_SANDBOX } from './docker-mapping';
import { RT } from './tokens';

type Kind = typeof TYPE_SANDBOX | typeof TYPE_CONTAINER;

/** Docker's inspect answer; SizeRw (the writable layer's bytes) only when asked with `size`. */
export type SizedInspect = Docker.ContainerInspectInfo & { SizeRw?: number };

/**
 * The Docker containers this node's executor made. Several nodes may share one
 * Docker engine, so whatever another node made is, for this node, not there.
 */
@injectable()
export class Owned {
  constructor(
    @inject(RT.Docker) private readonly docker: DockerApi,
    @inject(TOKENS.NodeName) readonly nodeName: string,
  ) {}

  /**
   * The container of that kind by ID (or ID prefix, or name), or undefined when it is
   * not there. With `size`, Docker also sums its writable layer (SizeRw): slower.
   */
  async inspect(id: string, kind: Kind, opts: { size?: boolean } = {}): Promise<SizedInspect | undefined> {
    if (!id) return undefined;
    try {
      // dockerode passes the options on as the query (its typings know only abortSignal).
      const info: SizedInspect = await dockerCall(() => this.docker.getContainer(id).inspect(opts.size ? ({ size: true } as Docker.ContainerInspectOptions) : undefined));
      return this.isOwned(info.Config.Labels, kind) ? info : undefined;
    } catch (err) {
      if (isNotFound((err as Error).cause)) return undefined;
      throw err;
    }
  }

  isOwned(labels: Record<string, string> | null | undefined, kind: Kind): boolean {
    return labels?.[LABEL.node] === this.nodeName && labels[LABEL.type] === kind;
  }

  /** This node's containers of that kind, running or not, narrowed by more labels. */
  list(kind: Kind, labels: Record<string, string> = {}): Promise<Docker.ContainerInfo[]> {
    return dockerCall(() => this.docker.listContainers({ all: true, filters: nodeListFilter(this.nodeName, kind, labels) }));
  }

  /** Inspects each listed container, skipping those removed in between. */
  async inspectAll(items: readonly Docker.ContainerInfo[], kind: Kind): Promise<Docker.ContainerInspectInfo[]> {
    const found = await Promise.all(items.map((c) => this.inspect(c.Id, kind)));
    return found.filter((c): c is Docker.ContainerInspectInfo => c !== undefined);
  }
}
