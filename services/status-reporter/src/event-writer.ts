import type { NatsConnection } from '@nats-io/transport-node';
import { inject, injectable } from 'tsyringe';
import { kubeEventsSubject, subscribe } from '@splitlet/bus';
import { KubeEventSchema, type KubeEvent } from '@splitlet/contracts';
import { apiStatus, describeApiError, isNotFound } from '@splitlet/kube';
import { TOKENS, untilAborted, type Clock, type Runnable } from '@splitlet/service';
import type { Logger } from '@splitlet/telemetry';
import type { PodApi } from './pod-api';
import { kubeTime } from '@splitlet/pod-status';
import { SR } from './tokens';

/** client-go's spam filter: 25 events at once per source and object, then one per 5 minutes. */
export const SPAM_BURST = 25;
export const SPAM_REFILL_MS = 300_000;
/** How many distinct events are remembered for counting repeats (client-go's LRU: 4096). */
const CACHE_SIZE = 4096;

interface Seen {
  name: string;
  namespace: string;
  count: number;
}

/**
 * The one writer of Events: the kubelet's event recorder and client-go's
 * EventCorrelator. An event seen before (same object, type, reason and message) is
 * the same Event with its count raised and lastTimestamp moved; a source and object
 * that emit too much are throttled; events of objects that are gone are dropped.
 */
@injectable()
export class EventWriter implements Runnable {
  private readonly seen = new Map<string, Seen>();
  private readonly buckets = new Map<string, { tokens: number; at: number }>();
  readonly writes = { creates: 0, patches: 0, dropped: 0 };

  constructor(
    @inject(SR.PodApi) private readonly api: PodApi,
    @inject(TOKENS.Nats) private readonly nc: NatsConnection,
    @inject(TOKENS.NodeName) private readonly nodeName: string,
    @inject(TOKENS.Clock) private readonly clock: Clock,
    @inject(TOKENS.Logger) private readonly logger: Logger,
  ) {}

  async run(signal: AbortSignal): Promise<void> {
    const sub = subscribe(this.nc, kubeEventsSubject(this.nodeName), KubeEventSchema, (e) => this.write(e), { logger: this.logger });
    await untilAborted(signal);
    sub.unsubscribe();
  }

  async write(e: KubeEvent): Promise<void> {
    const o = e.involvedObject;
    if (!o?.name || !o.namespace || !e.reason) return;
    if (!this.allow(`${o.kind}/${o.namespace}/${o.name}/${o.uid}`)) {
      this.writes.dropped++;
      return;
    }
    const key = [o.kind, o.namespace, o.name, o.uid, o.fieldPath, e.type, e.reason, e.message].join('\u0000');
    const when = kubeTime(e.timestamp) ?? new Date(this.clock.now()).toISOString().replace(/\.\d+Z$/, 'Z');
    const prior = this.seen.get(key);
    try {
      if (prior) {
        prior.count++;
        await this.api.patchEvent(prior.namespace, prior.name, { count: prior.count, lastTimestamp: when });
        this.writes.patches++;
        return;
      }
      // Named <object>.<hex nanos>; two services may stamp the same nanosecond, so a
      // name already taken (409) moves on by one.
      const base = e.timestamp || BigInt(this.clock.now()) * 1_000_000n;
      let name = '';
      for (let i = 0n; ; i++) {
        name = `${o.name}.${(base + i).toString(16)}`;
        try {
          await this.api.createEvent(o.namespace, {
            metadata: { name, namespace: o.namespace },
            involvedObject: { kind: o.kind, namespace: o.namespace, name: o.name, uid: o.uid, apiVersion: o.apiVersion, resourceVersion: o.resourceVersion || undefined, fieldPath: o.fieldPath || undefined },
            reason: e.reason,
            message: e.message,
            type: e.type,
            source: { component: 'kubelet', host: this.nodeName },
            firstTimestamp: when as unknown as Date,
            lastTimestamp: when as unknown as Date,
            count: 1,
            reportingComponent: 'kubelet',
            reportingInstance: this.nodeName,
          });
          break;
        } catch (err) {
          if (apiStatus(err) !== 409 || i >= 3n) throw err;
        }
      }
      this.writes.creates++;
      this.remember(key, { name, namespace: o.namespace, count: 1 });
    } catch (err) {
      // The Event or its namespace is gone: start over next time.
      if (isNotFound(err)) this.seen.delete(key);
      this.logger.warn({ reason: e.reason, object: `${o.namespace}/${o.name}`, err: describeApiError(err) }, 'failed to write event');
    }
  }

  private remember(key: string, s: Seen): void {
    if (this.seen.size >= CACHE_SIZE) this.seen.delete(this.seen.keys().next().value as string);
    this.seen.set(key, s);
  }

  /** A token bucket per source and object (client-go's EventSourceObjectSpamFilter). */
  private allow(key: string): boolean {
    const now = this.clock.now();
    const b = this.buckets.get(key) ?? { tokens: SPAM_BURST, at: now };
    b.tokens = Math.min(SPAM_BURST, b.tokens + (now - b.at) / SPAM_REFILL_MS);
    b.at = now;
    this.buckets.set(key, b);
    if (b.tokens < 1) return false;
    b.tokens--;
    return true;
  }
}
