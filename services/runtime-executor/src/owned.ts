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
  /** The last inspect of each listed container in a settled state, by ID (inspectAll). */
  private readonly settled = new Map<string, { state: string; kind: Kind; info: Docker.ContainerInspectInfo; usedAt: number }>();
  private sweptAt = Date.now();

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

  /**
   * Inspects each listed container, skipping those removed in between. A container the
   * list shows in the state its last inspect found, when that state is one a container
   * of this node leaves only by a change the list shows (created, running, exited:
   * nothing here restarts a container), gives that inspect again instead of asking
   * Docker. With 100 pods, pod-sync's lists made the executor inspect its 200 containers
   * several times a minute (30 inspects a second at times, issue 17); now a list asks
   * Docker only about the containers whose state changed.
   */
  async inspectAll(items: readonly Docker.ContainerInfo[], kind: Kind): Promise<Docker.ContainerInspectInfo[]> {
    const now = Date.now();
    this.sweep(now);
    const found = await Promise.all(
      items.map(async (c) => {
        const hit = this.settled.get(c.Id);
        if (hit && hit.kind === kind && hit.state === c.State) {
          hit.usedAt = now;
          return hit.info;
        }
        const info = await this.inspect(c.Id, kind);
        if (info && SETTLED.has(c.State) && info.State.Status === c.State) this.settled.set(c.Id, { state: c.State, kind, info, usedAt: now });
        else this.settled.delete(c.Id);
        return info;
      }),
    );
    return found.filter((c): c is Docker.ContainerInspectInfo => c !== undefined);
  }

  /** Drops the kept inspect of a container this executor changed by other means than the list shows. */
  forget(id: string): void {
    this.settled.delete(id);
  }

  /** Forgets what no list showed for SETTLED_KEEP_MS (removed containers), at most once a minute. */
  private sweep(now: number): void {
    if (now - this.sweptAt < 60_000) return;
    this.sweptAt = now;
    for (const [id, e] of this.settled) if (now - e.usedAt > SETTLED_KEEP_MS) this.settled.delete(id);
  }
}

/** Docker's list states whose inspect does not change while the state stays. */
const SETTLED = new Set(['created', 'running', 'exited']);
const SETTLED_KEEP_MS = 5 * 60_000;
