import { createInterface } from 'node:readline';
import type { Readable } from 'node:stream';
import { jetstream } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import { inject, injectable } from 'tsyringe';
import { containerEventsSubject, ensureStream, eventsStreamName, publishToStream } from '@splitlet/bus';
import { ContainerEventSchema, ContainerEventType, type ContainerEvent } from '@splitlet/contracts';
import { TOKENS, type Clock, type Runnable } from '@splitlet/service';
import { trace } from '@opentelemetry/api';
import { ATTR, podTraceId, withRootSpanInTrace, type Logger } from '@splitlet/telemetry';
import type { DockerApi } from './docker';
import { LABEL, SANDBOX_CONTAINER_NAME, TYPE_CONTAINER, TYPE_SANDBOX } from './docker-mapping';
import { OomKills } from './oom-kills';
import { Owned } from './owned';
import { RT } from './tokens';

/** How long the stream keeps events: long enough for a consumer's restart. */
const EVENTS_MAX_AGE_MS = 60 * 60_000;
/** On (re)connecting to Docker's event stream, replay this far back; the stream drops repeats. */
const REPLAY_MS = 60_000;

const tracer = trace.getTracer('runtime-executor');

const ACTIONS: Record<string, ContainerEventType> = {
  create: ContainerEventType.CREATED,
  start: ContainerEventType.STARTED,
  die: ContainerEventType.STOPPED,
  destroy: ContainerEventType.DELETED,
};

/** One line of Docker's /events stream (the fields used here). */
export interface DockerEvent {
  Type?: string;
  Action?: string;
  id?: string;
  timeNano?: number;
  Actor?: { ID?: string; Attributes?: Record<string, string> };
}

/** Docker's event as the contract's ContainerEvent, or undefined for one we do not publish. */
export function toContainerEvent(e: DockerEvent, nodeName: string): Omit<ContainerEvent, '$typeName'> | undefined {
  const type = e.Action ? ACTIONS[e.Action] : undefined;
  const a = e.Actor?.Attributes ?? {};
  const id = e.Actor?.ID ?? e.id;
  if (e.Type !== 'container' || type === undefined || !id || a[LABEL.node] !== nodeName) return undefined;
  const isSandbox = a[LABEL.type] === TYPE_SANDBOX;
  return {
    containerId: id,
    type,
    createdAt: BigInt(e.timeNano ?? 0),
    podSandboxId: isSandbox ? id : (a[LABEL.sandboxId] ?? ''),
    isSandbox,
    podUid: a[LABEL.podUid] ?? '',
    podName: a[LABEL.podName] ?? '',
    podNamespace: a[LABEL.podNamespace] ?? '',
    containerName: isSandbox ? SANDBOX_CONTAINER_NAME : (a[LABEL.containerName] ?? ''),
    exitCode: type === ContainerEventType.STOPPED ? Number(a['exitCode'] ?? 0) : 0,
  };
}

/**
 * Publishes this node's container lifecycle events, from Docker's event stream, to
 * the node's JetStream stream. After a lost connection to Docker it reconnects and
 * replays the last minute; the stream drops what it already has (Nats-Msg-Id).
 */
@injectable()
export class ContainerEventPublisher implements Runnable {
  constructor(
    @inject(RT.Docker) private readonly docker: DockerApi,
    @inject(TOKENS.Nats) private readonly nc: NatsConnection,
    @inject(TOKENS.NodeName) private readonly nodeName: string,
    @inject(TOKENS.Clock) private readonly clock: Clock,
    @inject(TOKENS.Logger) private readonly logger: Logger,
    @inject(OomKills) private readonly oomKills: OomKills,
    @inject(Owned) private readonly owned: Owned,
  ) {}

  async run(signal: AbortSignal): Promise<void> {
    const subject = containerEventsSubject(this.nodeName);
    for (let delay = 500; !signal.aborted; delay = Math.min(delay * 2, 30_000)) {
      try {
        await ensureStream(this.nc, eventsStreamName(this.nodeName), [subject], EVENTS_MAX_AGE_MS);
        await this.follow(subject, signal);
        delay = 500;
      } catch (err) {
        if (signal.aborted) return;
        this.logger.warn({ err: (err as Error).message, retryInMs: delay }, 'container event stream interrupted');
      }
      await this.clock.sleep(delay, signal).catch(() => undefined);
    }
  }

  private async follow(subject: string, signal: AbortSignal): Promise<void> {
    const js = jetstream(this.nc);
    const since = Math.floor((this.clock.now() - REPLAY_MS) / 1000);
    const stream = (await this.docker.getEvents({
      since,
      filters: { type: ['container'], label: [`${LABEL.node}=${this.nodeName}`], event: [...Object.keys(ACTIONS), 'oom'] },
    })) as Readable;
    const lines = createInterface({ input: stream });
    // Closing the reader ends the loop below; destroying the stream alone would not.
    const stop = () => {
      lines.close();
      stream.destroy();
    };
    // The signal may have fired while Docker was answering: then there is nothing to follow.
    if (signal.aborted) {
      stop();
      return;
    }
    signal.addEventListener('abort', stop, { once: true });
    try {
      for await (const line of lines) {
        let raw: DockerEvent;
        try {
          raw = JSON.parse(line) as DockerEvent;
        } catch {
          continue;
        }
        const event = raw.Action === 'oom' ? await this.lateOom(raw) : toContainerEvent(raw, this.nodeName);
        if (!event) continue;
        const attributes = { [ATTR.containerId]: event.containerId, [ATTR.podUid]: event.podUid, [ATTR.containerName]: event.containerName };
        // A Docker event is part of its pod's life: it is published in the pod's trace.
        await withRootSpanInTrace(tracer, `runtime-executor docker ${raw.Action}`, podTraceId(event.podUid), { attributes }, () =>
          publishToStream(js, subject, ContainerEventSchema, event, { msgId: `${event.containerId}:${raw.Action}:${event.createdAt}`, attributes }),
        );
      }
    } finally {
      signal.removeEventListener('abort', stop);
    }
    if (!signal.aborted) throw new Error('Docker closed the event stream');
  }

  /**
   * Docker's "oom" for one of this node's containers is remembered (its reason is
   * OOMKilled from now on, OomKills). One that came after the container had already
   * exited changes a status pod-sync has read: it is published as the container's
   * stop again, so its pod is synced again (as containerd's TaskOOM updates a CRI
   * status whenever it arrives). An "oom" of a running container (a child process
   * killed) is not a stop: nothing is published.
   */
  private async lateOom(raw: DockerEvent): Promise<Omit<ContainerEvent, '$typeName'> | undefined> {
    const id = raw.Actor?.ID ?? raw.id;
    if (raw.Type !== 'container' || !id || raw.Actor?.Attributes?.[LABEL.node] !== this.nodeName) return undefined;
    this.oomKills.mark(id);
    const c = await this.owned.inspect(id, TYPE_CONTAINER).catch(() => undefined);
    // Docker set OOMKilled itself (the OOM came first): the stop already said so.
    if (!c || c.State.Running || c.State.OOMKilled) return undefined;
    return toContainerEvent({ ...raw, Action: 'die', Actor: { ...raw.Actor, Attributes: { ...raw.Actor?.Attributes, exitCode: String(c.State.ExitCode ?? 0) } } }, this.nodeName);
  }
}
