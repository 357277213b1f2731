import type { CoreV1Event } from '@kubernetes/client-node';
import type { NatsConnection } from '@nats-io/transport-node';
import { inject, injectable } from 'tsyringe';
import { kubeEventsSubject, subscribe } from '@splitlet/bus';
import { KubeEventSchema, type KubeEvent } from '@splitlet/contracts';
import { apiStatus, describeApiError, isNotFound } from '@splitlet/kube';
import { TOKENS, untilAborted, type Clock, type Runnable } from '@splitlet/service';
import type { Logger } from '@splitlet/telemetry';
import type { PodApi } from './pod-api';
import { kubeTime } from '@splitlet/pod-status';
import { EventCorrelator, type KubeEventObject } from './event-correlator';
import { SR } from './tokens';

export { AGGREGATE_INTERVAL_MS, AGGREGATE_MAX_EVENTS, COMBINED_PREFIX, SPAM_BURST, SPAM_REFILL_MS } from './event-correlator';

/** Events waiting to be written; past it new ones are dropped (client-go's broadcaster queue, DropIfChannelFull). */
export const QUEUE_LENGTH = 1000;

/**
 * The one writer of Events: the kubelet's event recorder and client-go's
 * EventCorrelator. Similar events (all but the message equal) with 10 distinct
 * messages within 10 minutes become one "(combined from similar events)" Event; an
 * event seen before is the same Event with its count raised and lastTimestamp moved;
 * a source and object that emit too much are throttled. Events are written one at a
 * time, in the order they arrive, as client-go's broadcaster hands them to its sink.
 */
@injectable()
export class EventWriter implements Runnable {
  private readonly correlator: EventCorrelator;
  private tail: Promise<void> = Promise.resolve();
  private queued = 0;
  readonly writes = { creates: 0, patches: 0, dropped: 0 };

  constructor(
    @inject(SR.PodApi) private readonly api: PodApi,
    @inject(TOKENS.Nats) private readonly nc: NatsConnection,
    @inject(TOKENS.NodeName) private readonly nodeName: string,
    @inject(TOKENS.Clock) private readonly clock: Clock,
    @inject(TOKENS.Logger) private readonly logger: Logger,
  ) {
    this.correlator = new EventCorrelator(clock);
  }

  async run(signal: AbortSignal): Promise<void> {
    const sub = subscribe(this.nc, kubeEventsSubject(this.nodeName), KubeEventSchema, (e) => this.write(e), { logger: this.logger });
    await untilAborted(signal);
    sub.unsubscribe();
  }

  /** Writes the event after those before it; resolves when it is written (or dropped). */
  write(e: KubeEvent): Promise<void> {
    if (this.queued >= QUEUE_LENGTH) {
      this.writes.dropped++;
      return Promise.resolve();
    }
    this.queued++;
    const done = this.tail.then(() => this.record(e)).finally(() => this.queued--);
    this.tail = done.catch(() => undefined);
    return done;
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

  /** The kubelet recorder's makeEvent: named <object>.<hex nanos>, source kubelet on this node. */
  private makeEvent(e: KubeEvent): KubeEventObject | undefined {
    const o = e.involvedObject;
    if (!o?.name || !o.namespace || !e.reason) return undefined;
    const nanos = e.timestamp || BigInt(this.clock.now()) * 1_000_000n;
    const when = kubeTime(nanos) as string;
    return {
      metadata: { name: `${o.name}.${nanos.toString(16)}`, namespace: o.namespace },
      involvedObject: { kind: o.kind, namespace: o.namespace, name: o.name, uid: o.uid, apiVersion: o.apiVersion, resourceVersion: o.resourceVersion || undefined, fieldPath: o.fieldPath || undefined },
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
