import { addAbortListener } from 'node:events';
import { jetstream, DeliverPolicy } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import { fromBinary } from '@bufbuild/protobuf';
import { inject, injectable } from 'tsyringe';
import { containerEventsSubject, ensureKubeEventsStream, ensureStatusStream, eventsStreamName, withConsumerSpan } from '@splitlet/bus';
import { ContainerEventSchema, ContainerEventType } from '@splitlet/contracts';
import type { V1Pod } from '@kubernetes/client-node';
import { TOKENS, untilAborted, type Clock, type Runnable } from '@splitlet/service';
import { ATTR, type Logger } from '@splitlet/telemetry';
import { PodSyncer } from './pod-syncer';
import type { PodWorkers } from './pod-workers';
import type { ProbeState } from './probe-state';
import { SYNC } from './tokens';

/** Other watches the syncs read from; the pods are served once these have listed too. */
export interface Caches {
  /** Lists and starts watching; resolves once every cache holds its first list (retrying meanwhile). */
  start(): Promise<void>;
  stop(): void;
}

/** The pods the node runs (the API server's bound to it, and the static pods): NodePods. */
export interface NodePodList {
  /** Lists and starts watching; resolves once the API server's pods are listed. */
  start(): Promise<void>;
  stop(): void;
  list(): readonly V1Pod[];
  /** Every source read once (the kubelet's allSourcesReady): only then is a pod no source has cleaned up. */
  readonly hasSynced: boolean;
}

/** How often the housekeeping looks for pods without a worker and for what is left of deleted ones (at most; the kubelet's is 2 s). */
export const HOUSEKEEPING_MS = 10_000;

/** Which pods this replica syncs now (the shards it holds; every pod when it runs alone). */
export interface PodShardView {
  /** Whether this replica holds the shard of the pod with this UID (a static pod's: the leader's). */
  ownsUid(uid: string): boolean;
}

/**
 * What sets the pod workers going: the pods bound to this node as the informer
 * sees them (each worker then resyncs its pod on its own timer); a container of a
 * pod stopping (the runtime's event stream); a changed probe result. The
 * housekeeping (every HOUSEKEEPING_MS, or the resync period when shorter) gives a
 * worker to any pod without one (level-triggered: a lost hint only delays) and
 * cleans up pods that run here but no longer exist in the API server.
 */
@injectable()
export class PodWatch implements Runnable {
  constructor(
    @inject(SYNC.PodInformer) private readonly informer: NodePodList,
    @inject(SYNC.Caches) private readonly caches: Caches,
    @inject(SYNC.Workers) private readonly workers: PodWorkers,
    @inject(PodSyncer) private readonly syncer: PodSyncer,
    @inject(SYNC.ResyncMs) private readonly resyncMs: number,
    @inject(SYNC.Probes) private readonly probes: ProbeState,
    @inject(SYNC.Shards) private readonly shards: PodShardView,
    @inject(TOKENS.Nats) private readonly nc: NatsConnection,
    @inject(TOKENS.NodeName) private readonly nodeName: string,
    @inject(TOKENS.Clock) private readonly clock: Clock,
    @inject(TOKENS.Logger) private readonly logger: Logger,
  ) {}

  async run(signal: AbortSignal): Promise<void> {
    // The streams that keep statuses and Events for status-reporter, before the first
    // sync hands any over (created on a first failed publish otherwise, when the first
    // few Events could be taken out of order). Pods run without them all the same.
    await Promise.all([ensureStatusStream(this.nc, this.nodeName), ensureKubeEventsStream(this.nc, this.nodeName)]).catch((err: unknown) =>
      this.logger.warn({ err: (err as Error).message }, 'the status and Events streams are not there yet; the first publication creates them'),
    );
    // The Node and the Services listed first too: a sync before that could not make an
    // env (the kubelet's "services have not yet been read at least once") and would
    // only wait for its retry.
    await Promise.race([Promise.all([this.informer.start(), this.caches.start()]), untilAborted(signal)]);
    if (!signal.aborted) this.logger.info({ pods: this.informer.list().length }, 'watching the pods bound to this node');
    void this.followContainerEvents(signal);
    void this.followProbeResults(signal);
    while (!signal.aborted) {
      await this.housekeeping().catch((err: unknown) => this.logger.warn({ err: (err as Error).message }, 'housekeeping failed'));
      await this.clock.sleep(Math.min(this.resyncMs, HOUSEKEEPING_MS), signal).catch(() => undefined);
    }
    this.workers.stop();
    this.informer.stop();
    this.caches.stop();
  }

  private async housekeeping(): Promise<void> {
    for (const pod of this.informer.list()) if (!this.workers.has(pod.metadata?.uid ?? '')) this.workers.update(pod);
    const here = await this.syncer.podsWithSandboxes();
    // The pods the API server has, read after what runs here: a pod added while the
    // runtime was asked got its sandbox and volumes meanwhile, and a list taken before
    // would not know it — its sandbox stopped and its volumes removed under its sync
    // (seen as SandboxChanged and a container started with empty volume directories).
    // A source not read yet (a static pod URL down at boot) could still hold a pod that runs here.
    if (!this.informer.hasSynced) return;
    const known = new Set(this.informer.list().map((p) => p.metadata?.uid));
    for (const uid of here) {
      // Another replica's shard is its to clean up; a pod with a worker is being removed through it (PodWorkers.remove): not twice at once.
      if (!known.has(uid) && !this.workers.has(uid) && this.shards.ownsUid(uid)) await this.syncer.cleanup(uid);
    }
    // Records of pods deleted while no pod-sync ran, with nothing of them left here.
    for (const uid of this.syncer.recordedPods()) if (!known.has(uid) && !here.has(uid) && !this.workers.has(uid)) this.syncer.dropRecord(uid);
    const strays = await this.probes.removeUnknown(() => new Set(this.informer.list().map((p) => p.metadata?.uid ?? '')));
    if (strays.length) this.logger.warn({ count: strays.length, pods: strays.slice(0, 10).map((k) => k.slice(0, 64)) }, 'removed probe views of pods this node does not run');
  }

  /**
   * The prober's results: a changed one syncs its pod at once (a liveness failure
   * kills, a readiness change is reported). Retried until JetStream answers.
   */
  private async followProbeResults(signal: AbortSignal): Promise<void> {
    // A readiness result, or a success, changes only the status; a liveness or startup
    // failure needs a full sync (the container is killed).
    const syncPod = (uid: string, statusOnly: boolean) => {
      const pod = this.informer.list().find((p) => p.metadata?.uid === uid);
      if (pod) this.workers.update(pod, { statusOnly });
    };
    for (let delay = 1000; !signal.aborted; delay = Math.min(delay * 2, 30_000)) {
      try {
        await this.probes.start(syncPod, signal);
        return;
      } catch (err) {
        this.logger.warn({ err: (err as Error).message }, 'probe state not available yet; retrying');
      }
      await this.clock.sleep(delay, signal).catch(() => undefined);
    }
  }

  /** A stopped container or sandbox is a reason to sync its pod now (restart, re-create, or report it). */
  private async followContainerEvents(signal: AbortSignal): Promise<void> {
    for (let delay = 1000; !signal.aborted; delay = Math.min(delay * 2, 30_000)) {
      try {
        const consumer = await jetstream(this.nc).consumers.get(eventsStreamName(this.nodeName), {
          filter_subjects: [containerEventsSubject(this.nodeName)],
          deliver_policy: DeliverPolicy.New,
        });
        const messages = await consumer.consume();
        // Also when the signal fired while the consumer was being set up.
        const stopping = addAbortListener(signal, () => void messages.stop());
        try {
          for await (const m of messages) {
            let event;
            try {
              event = fromBinary(ContainerEventSchema, m.data);
            } catch {
              continue;
            }
            // A sandbox that stopped too: with a resync of a minute, a dead sandbox would
            // otherwise wait that long to be re-created (the kubelet's PLEG sees it at once).
            if (event.type !== ContainerEventType.STOPPED) continue;
            const stopped = event;
            // In the pod's trace, as the child of the executor's PRODUCER span.
            await withConsumerSpan(m.subject, m.headers, { [ATTR.podUid]: stopped.podUid, [ATTR.containerId]: stopped.containerId }, async () => {
              const pod = this.informer.list().find((p) => p.metadata?.uid === stopped.podUid);
              if (pod) this.workers.update(pod);
            });
          }
        } finally {
          // One listener per consumer: a reconnect does not leave the last one on the signal.
          stopping[Symbol.dispose]();
        }
        delay = 1000;
      } catch (err) {
        if (signal.aborted) return;
        this.logger.debug({ err: (err as Error).message }, 'container events not available yet');
      }
      await this.clock.sleep(delay, signal).catch(() => undefined);
    }
  }
}
