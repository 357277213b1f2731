import { addAbortListener } from 'node:events';
import { fromBinary } from '@bufbuild/protobuf';
import type { CoreV1Event } from '@kubernetes/client-node';
import { AckPolicy, jetstreamManager } from '@nats-io/jetstream';
import { nanos, type NatsConnection } from '@nats-io/transport-node';
import { inject, injectable } from 'tsyringe';
import { jetstreamOf, kubeEventsStreamName, shardEventsSubject, STATUS_SHARDS, statusShardOf, withConsumerSpan } from '@splitlet/bus';
import { KubeEventSchema, type KubeEvent } from '@splitlet/contracts';
import { apiStatus, describeApiError, isNotFound } from '@splitlet/kube';
import { TOKENS, untilAborted, type Clock, type Runnable } from '@splitlet/service';
import type { Logger } from '@splitlet/telemetry';
import type { PodApi } from './pod-api';
import { kubeTime } from '@splitlet/pod-status';
import { EventCorrelator, LRU_CACHE_ENTRIES, type KubeEventObject } from './event-correlator';
import { checkInvolvedObject, type EventRefusal, type EventVerdict } from './event-checks';
import { GonePods } from './gone-pods';
import { LruCache } from './lru';
import { MAX_WAITING_FOR_POD, waitForCache, type PodCache } from './pod-cache';
import { SR } from './tokens';

export { AGGREGATE_INTERVAL_MS, AGGREGATE_MAX_EVENTS, COMBINED_PREFIX, SPAM_BURST, SPAM_REFILL_MS } from './event-correlator';

/** Events waiting to be written; past it new ones are dropped (client-go's broadcaster queue, DropIfChannelFull). */
export const QUEUE_LENGTH = 1000;
/** Events waiting for the pod cache to show their pod, at most; past it new ones are refused. */
export const WAITING_LENGTH = 1000;
/** status-reporter's durable consumer of the node's Events stream, unsharded (all of it). */
export const EVENTS_CONSUMER = 'status-reporter';
/** status-reporter's durable consumer of one status shard's Events. */
export const shardEventsConsumer = (shard: number): string => `${EVENTS_CONSUMER}-${shard}`;

/**
 * Deletes the unsharded durable consumer a status-reporter before the split into
 * shards left on the node's Events stream: it would overlap the shards' consumers,
 * which a work queue refuses. Once per replica start, before any shard is held; gone
 * already (or no stream yet) is fine.
 */
export async function removeUnshardedConsumer(nc: NatsConnection, nodeName: string): Promise<void> {
  const jsm = await jetstreamManager(nc);
  await jsm.consumers.delete(kubeEventsStreamName(nodeName), EVENTS_CONSUMER).catch(() => undefined);
}
/**
 * Events taken from the stream and not yet written, at most: below QUEUE_LENGTH, so a
 * backlog (status-reporter back after an outage) waits in the stream, never dropped
 * from a full queue.
 */
const IN_FLIGHT = 500;
/** How long the stream waits for an event's acknowledgement before handing it out again (its writer died). */
const ACK_WAIT_MS = 10_000;
/** The longest wait between two looks at the pod cache for an event's pod. */
const CACHE_LOOK_CAP_MS = 5_000;
/** How many refused objects are remembered, each logged once. */
const REFUSED_REMEMBERED = 4096;

/** An event's involved object: events of one object keep their order. */
const objectKey = (e: KubeEvent): string => {
  const o = e.involvedObject;
  return `${o?.kind}/${o?.namespace}/${o?.name}/${o?.uid}`;
};

/**
 * The one writer of Events: the kubelet's event recorder and client-go's
 * EventCorrelator. Similar events (all but the message equal) with 10 distinct
 * messages within 10 minutes become one "(combined from similar events)" Event; an
 * event seen before is the same Event with its count raised and lastTimestamp moved;
 * a source and object that emit too much are throttled. Events are written one at a
 * time, in the order they arrive, as client-go's broadcaster hands them to its sink.
 *
 * Only events about this node's own objects are written (event-checks.ts): the Node,
 * and pods the pod cache binds to the node (or deleted lately). An event about a pod
 * the cache does not show yet waits for it, as a pod status does, and so do the
 * events of the same object after it (their order stays); events of other objects go
 * on meanwhile.
 */
@injectable()
export class EventWriter implements Runnable {
  private readonly correlator: EventCorrelator;
  private tail: Promise<void> = Promise.resolve();
  private queued = 0;
  /** Events waiting for the pod cache, and per object the turn of the last of them. */
  private waitingEvents = 0;
  private readonly waiting = new Map<string, Promise<void>>();
  /** Objects whose events were refused (each logged once), and how many such objects so far. */
  private readonly refusedObjects: LruCache<true>;
  private refusedObjectCount = 0;
  private readonly stopped = new AbortController();
  readonly writes = { creates: 0, patches: 0, dropped: 0, refused: 0 };

  constructor(
    @inject(SR.PodApi) private readonly api: PodApi,
    @inject(SR.PodCache) private readonly cache: PodCache,
    @inject(GonePods) private readonly gone: GonePods,
    @inject(TOKENS.Nats) private readonly nc: NatsConnection,
    @inject(TOKENS.NodeName) private readonly nodeName: string,
    @inject(TOKENS.Clock) private readonly clock: Clock,
    @inject(TOKENS.Logger) private readonly logger: Logger,
    /** The status shard whose Events this writer takes (its replica holds it); none: all of the node's. */
    @inject(SR.Shard, { isOptional: true }) private readonly shard?: number,
  ) {
    // A shard's writer holds its share of each bound, so a replica that holds every
    // shard holds what one unsharded writer (and the kubelet's recorder) would.
    const share = (n: number) => (shard === undefined ? n : Math.ceil(n / STATUS_SHARDS));
    this.limits = { queue: share(QUEUE_LENGTH), waiting: share(WAITING_LENGTH), inFlight: share(IN_FLIGHT) };
    this.correlator = new EventCorrelator(clock, share(LRU_CACHE_ENTRIES));
    this.refusedObjects = new LruCache<true>(share(REFUSED_REMEMBERED));
  }

  /** The queue, waiting and in-flight bounds of this writer: a shard's share of the node's. */
  private readonly limits: { queue: number; waiting: number; inFlight: number };

  async run(signal: AbortSignal): Promise<void> {
    await this.followEvents(signal);
    await untilAborted(signal);
    this.stopped.abort();
  }

  /**
   * Takes the node's Events from their stream (a work queue: each leaves it once
   * written or refused) through our durable consumer, so what was published while this
   * service was away is written when it returns, with the time it happened. An event
   * is acknowledged once written, dropped or refused, and marked in progress while it
   * waits (for the pod cache or its turn); one taken by a replica that died is handed
   * out again after ACK_WAIT_MS. Retried until the stream is there.
   */
  private async followEvents(signal: AbortSignal): Promise<void> {
    const stream = kubeEventsStreamName(this.nodeName);
    const shard = this.shard;
    const durable = shard === undefined ? EVENTS_CONSUMER : shardEventsConsumer(shard);
    for (let delay = 500; !signal.aborted; delay = Math.min(delay * 2, 5_000)) {
      try {
        const jsm = await jetstreamManager(this.nc);
        await jsm.consumers.add(stream, { durable_name: durable, ack_policy: AckPolicy.Explicit, ack_wait: nanos(ACK_WAIT_MS), max_ack_pending: this.limits.inFlight, ...(shard === undefined ? {} : { filter_subject: shardEventsSubject(this.nodeName, shard) }) });
        const consumer = await jetstreamOf(this.nc).consumers.get(stream, durable);
        const messages = await consumer.consume({ max_messages: 100 });
        // Also when the signal fired while the consumer was being set up (a shard handed
        // over at once): a listener added after the abort would never be called.
        const stopping = addAbortListener(signal, () => void messages.stop());
        try {
          for await (const m of messages) {
            delay = 500;
            let e: KubeEvent;
            try {
              e = fromBinary(KubeEventSchema, m.data);
            } catch (err) {
              this.logger.warn({ subject: m.subject, err: (err as Error).message }, 'malformed message dropped');
              m.term();
              continue;
            }
            if (shard !== undefined && statusShardOf(e.involvedObject?.uid ?? '') !== shard) {
              void this.refuse(e, 'wrong-shard');
              m.term();
              continue;
            }
            const inProgress = setInterval(() => m.working(), ACK_WAIT_MS / 2);
            // write() takes its place in the order at once; it resolves once written.
            void withConsumerSpan(m.subject, m.headers, {}, () => this.write(e)).finally(() => {
              clearInterval(inProgress);
              m.ack();
            });
          }
        } finally {
          stopping[Symbol.dispose]();
        }
      } catch (err) {
        if (signal.aborted) return;
        this.logger.debug({ err: (err as Error).message, retryInMs: delay }, 'Events not available yet');
      }
      await this.clock.sleep(delay, signal).catch(() => undefined);
    }
  }

  /**
   * Writes the event after those before it; resolves when it is written, dropped or
   * refused. Never rejects.
   */
  write(e: KubeEvent): Promise<void> {
    const key = objectKey(e);
    const ahead = this.waiting.get(key);
    const verdict = ahead ? 'wait' : this.check(e);
    if (verdict === 'write') return this.enqueue(e);
    if (verdict !== 'wait') return this.refuse(e, verdict);
    if ((!ahead && this.waiting.size >= MAX_WAITING_FOR_POD) || this.waitingEvents >= this.limits.waiting) return this.refuse(e, 'too-many-waiting');
    return this.waitForPod(e, key, ahead);
  }

  private check(e: KubeEvent): EventVerdict {
    return checkInvolvedObject(e, this.nodeName, this.cache, this.gone);
  }

  /**
   * Waits (behind the object's events before it) for the pod cache to show the event's
   * pod, as long as a pod status may (pod-cache.ts), then writes or refuses it.
   */
  private waitForPod(e: KubeEvent, key: string, ahead: Promise<void> | undefined): Promise<void> {
    this.waitingEvents++;
    const since = this.clock.now();
    let written: Promise<void> = Promise.resolve();
    const turn = (async () => {
      await ahead;
      const look = () => {
        const v = this.check(e);
        return v === 'wait' ? undefined : v;
      };
      const verdict = (await waitForCache(look, { clock: this.clock, since, capMs: CACHE_LOOK_CAP_MS, signal: this.stopped.signal })) ?? 'not-bound';
      this.waitingEvents--;
      written = verdict === 'write' ? this.enqueue(e) : this.refuse(e, verdict);
    })();
    this.waiting.set(key, turn);
    void turn.then(() => {
      if (this.waiting.get(key) === turn) this.waiting.delete(key);
    });
    return turn.then(() => written);
  }

  /** Puts the event in the write queue (client-go's broadcaster: full, it is dropped). */
  private enqueue(e: KubeEvent): Promise<void> {
    if (this.queued >= this.limits.queue) {
      this.writes.dropped++;
      return Promise.resolve();
    }
    this.queued++;
    const done = this.tail.then(() => this.record(e)).finally(() => this.queued--);
    this.tail = done.catch(() => undefined);
    return done;
  }

  /**
   * Counts a refused event and logs it — the object and why, never the message — once
   * per object (past the first 64 objects, at the 128th, 256th… only).
   */
  private refuse(e: KubeEvent, why: EventRefusal): Promise<void> {
    this.writes.refused++;
    const key = objectKey(e);
    if (this.refusedObjects.get(key)) return Promise.resolve();
    this.refusedObjects.add(key, true);
    const n = ++this.refusedObjectCount;
    if (n <= 64 || (n & (n - 1)) === 0) {
      const o = e.involvedObject;
      const object = { kind: o?.kind.slice(0, 64), namespace: o?.namespace.slice(0, 63), name: o?.name.slice(0, 253), uid: o?.uid.slice(0, 64) };
      this.logger.warn({ object, reason: e.reason.slice(0, 128), why, refused: this.writes.refused }, 'event refused');
    }
    return Promise.resolve();
  }

  /** client-go's recordToSink: correlate, then patch the Event it repeats or create it. Never throws. */
  private async record(e: KubeEvent): Promise<void> {
    const made = this.makeEvent(e);
    if (!made) return;
    const c = this.correlator.correlate(made);
    if (c.skip) {
      this.writes.dropped++;
      return;
    }
    const { event, key, patch } = c;
    try {
      if (patch) {
        try {
          await this.api.patchEvent(event.metadata.namespace, event.metadata.name, patch);
          this.writes.patches++;
          return;
        } catch (err) {
          // The Event is not there (deleted, or its create was throttled or failed):
          // create it with the count so far, as client-go's recordEvent does.
          if (!isNotFound(err)) throw err;
        }
      }
      const name = await this.create(event);
      this.writes.creates++;
      if (name !== event.metadata.name) this.correlator.updateState(key, { ...event, metadata: { ...event.metadata, name } });
    } catch (err) {
      this.logger.warn({ reason: event.reason, object: `${event.metadata.namespace}/${event.involvedObject.name}`, err: describeApiError(err) }, 'failed to write event');
    }
  }

  /**
   * The kubelet recorder's makeEvent: named <object>.<hex nanos>, source kubelet on this
   * node; an Event about the Node (no namespace) goes to "default", as client-go's.
   * The recorder's annotations (AnnotatedEventf) are the Event's own.
   */
  private makeEvent(e: KubeEvent): KubeEventObject | undefined {
    const o = e.involvedObject;
    if (!o?.name || !e.reason) return undefined;
    const nanos = e.timestamp || BigInt(this.clock.now()) * 1_000_000n;
    const when = kubeTime(nanos) as string;
    return {
      metadata: { name: `${o.name}.${nanos.toString(16)}`, namespace: o.namespace || 'default', ...(Object.keys(e.annotations).length ? { annotations: { ...e.annotations } } : {}) },
      involvedObject: { kind: o.kind, namespace: o.namespace || undefined, name: o.name, uid: o.uid, apiVersion: o.apiVersion, resourceVersion: o.resourceVersion || undefined, fieldPath: o.fieldPath || undefined },
      reason: e.reason,
      message: e.message,
      type: e.type,
      source: { component: 'kubelet', host: this.nodeName },
      firstTimestamp: when,
      lastTimestamp: when,
      count: 1,
      reportingComponent: 'kubelet',
      reportingInstance: this.nodeName,
    };
  }

  /**
   * Creates the Event; returns the name it got. Two services may stamp the same
   * nanosecond, so a name already taken (409) moves on by one.
   */
  private async create(event: KubeEventObject): Promise<string> {
    const dot = event.metadata.name.lastIndexOf('.');
    const object = event.metadata.name.slice(0, dot);
    const base = BigInt(`0x${event.metadata.name.slice(dot + 1)}`);
    for (let i = 0n; ; i++) {
      const name = `${object}.${(base + i).toString(16)}`;
      try {
        await this.api.createEvent(event.metadata.namespace, { ...event, metadata: { ...event.metadata, name } } as unknown as CoreV1Event);
        return name;
      } catch (err) {
        if (apiStatus(err) !== 409 || i >= 3n) throw err;
      }
    }
  }
}
