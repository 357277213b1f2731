import type { V1ObjectReference } from '@kubernetes/client-node';
import type { Clock } from '@splitlet/service';
import { LruCache } from './lru';

/*
 * client-go's EventCorrelator (k8s.io/client-go/tools/record/events_cache.go) with its
 * defaults: each event is aggregated (EventAggregator), then observed (eventLogger:
 * a repeat becomes a patch of the Event it repeats), then filtered (the spam filter).
 */

/** Each cache holds this many keys, the least recently used going first (maxLruCacheEntries). */
export const LRU_CACHE_ENTRIES = 4096;
/** Similar events (all but the message equal) with this many distinct messages within the interval are combined. */
export const AGGREGATE_MAX_EVENTS = 10;
/** ...where the interval is counted from the last similar event (defaultAggregateIntervalInSeconds). */
export const AGGREGATE_INTERVAL_MS = 600_000;
/** The spam filter: 25 events at once per source and object, then one per 5 minutes. */
export const SPAM_BURST = 25;
export const SPAM_REFILL_MS = 300_000;
/** EventAggregatorByReasonMessageFunc's prefix of the combined Event's message. */
export const COMBINED_PREFIX = '(combined from similar events): ';

/** A core/v1 Event as splitlet writes it (times as metav1.Time strings, second precision). */
export interface KubeEventObject {
  metadata: { name: string; namespace: string; annotations?: Record<string, string> };
  involvedObject: V1ObjectReference;
  reason: string;
  message: string;
  type: string;
  source: { component: string; host: string };
  firstTimestamp: string;
  lastTimestamp: string;
  count: number;
  reportingComponent?: string;
  reportingInstance?: string;
}

/** What a repeat changes on the Event it repeats (the eventLogger's two-way merge patch). */
export interface EventPatch {
  count: number;
  lastTimestamp: string;
  message?: string;
}

export type Correlated = { skip: true } | { skip: false; event: KubeEventObject; key: string; patch?: EventPatch };

/** metav1.Time of a Unix time in ms: RFC 3339, second precision. */
export const metaTime = (ms: number): string => new Date(Math.floor(ms / 1000) * 1000).toISOString().replace('.000Z', 'Z');

// Keys are joined with NUL where client-go joins with "" (so two fields cannot run into each other).
const join = (parts: (string | undefined)[]): string => parts.map((p) => p ?? '').join('\u0000');

/** getEventKey: what makes an event the same event (its repeats are counted on one Event). */
export function eventKey(e: KubeEventObject): string {
  const o = e.involvedObject;
  return join([e.source.component, e.source.host, o.kind, o.namespace, o.name, o.fieldPath, o.uid, o.apiVersion, e.type, e.reason, e.message]);
}

/** getSpamKey: the source and object whose events share one token bucket. */
export function spamKey(e: KubeEventObject): string {
  const o = e.involvedObject;
  return join([e.source.component, e.source.host, o.kind, o.namespace, o.name, o.uid, o.apiVersion]);
}

/** EventAggregatorByReasonFunc: similar events share the aggregate key (no field path, no message); the message is the local key. */
export function aggregateKeys(e: KubeEventObject): [aggregateKey: string, localKey: string] {
  const o = e.involvedObject;
  return [join([e.source.component, e.source.host, o.kind, o.namespace, o.name, o.uid, o.apiVersion, e.type, e.reason, e.reportingComponent, e.reportingInstance]), e.message];
}

interface AggregateRecord {
  /** The distinct messages seen within the interval, never more than AGGREGATE_MAX_EVENTS - 1 kept. */
  localKeys: Set<string>;
  lastTimestamp: number;
}

interface Observation {
  count: number;
  firstTimestamp: string;
  name: string;
}

interface SpamRecord {
  tokens: number;
  at: number;
}

export class EventCorrelator {
  private readonly aggregates: LruCache<AggregateRecord>;
  private readonly observations: LruCache<Observation>;
  private readonly buckets: LruCache<SpamRecord>;

  /** entries: each cache's size (a status shard's writer takes its share of LRU_CACHE_ENTRIES). */
  constructor(
    private readonly clock: Pick<Clock, 'now'>,
    entries = LRU_CACHE_ENTRIES,
  ) {
    this.aggregates = new LruCache<AggregateRecord>(entries);
    this.observations = new LruCache<Observation>(entries);
    this.buckets = new LruCache<SpamRecord>(entries);
  }

  /** EventCorrelate: the Event to create (no patch) or to patch, or skip (throttled). */
  correlate(e: KubeEventObject): Correlated {
    const [aggregated, key] = this.aggregate(e);
    const { event, patch } = this.observe(aggregated, key);
    // As client-go, a throttled event has been observed: the next one let through carries its count.
    if (this.filter(event)) return { skip: true };
    return patch ? { skip: false, event, key, patch } : { skip: false, event, key };
  }

  /** UpdateState: the Event correlated under key was written under another name. */
  updateState(key: string, event: KubeEventObject): void {
    this.observations.add(key, { count: event.count, firstTimestamp: event.firstTimestamp, name: event.metadata.name });
  }

  /**
   * EventAggregate: the event itself and its event key while its similar events have
   * fewer than AGGREGATE_MAX_EVENTS distinct messages within the interval; from the
   * one that reaches it on, the combined Event keyed by the aggregate key, so that
   * each further one raises the combined Event's count.
   */
  private aggregate(e: KubeEventObject): [KubeEventObject, string] {
    const now = this.clock.now();
    const [aggregateKey, localKey] = aggregateKeys(e);
    let record = this.aggregates.get(aggregateKey);
    if (!record || now - record.lastTimestamp > AGGREGATE_INTERVAL_MS) record = { localKeys: new Set(), lastTimestamp: 0 };
    record.localKeys.add(localKey);
    record.lastTimestamp = now;
    this.aggregates.add(aggregateKey, record);
    if (record.localKeys.size < AGGREGATE_MAX_EVENTS) return [e, eventKey(e)];

    // Do not grow the set past the max. client-go pops any one message (a Go map's
    // first: a random one); here the oldest.
    record.localKeys.delete(record.localKeys.values().next().value as string);
    const t = metaTime(now);
    const combined: KubeEventObject = {
      metadata: { name: `${e.involvedObject.name}.${(BigInt(now) * 1_000_000n).toString(16)}`, namespace: e.metadata.namespace },
      count: 1,
      firstTimestamp: t,
      involvedObject: e.involvedObject,
      lastTimestamp: t,
      message: COMBINED_PREFIX + e.message,
      type: e.type,
      reason: e.reason,
      source: e.source,
      // client-go's combined Event carries no reporting controller or instance.
    };
    return [combined, aggregateKey];
  }

  /** The eventLogger's eventObserve: a key seen before is the Event seen before, one more time. */
  private observe(e: KubeEventObject, key: string): { event: KubeEventObject; patch?: EventPatch } {
    const last = this.observations.get(key);
    let event = e;
    let patch: EventPatch | undefined;
    if (last && last.count > 0) {
      event = { ...e, metadata: { ...e.metadata, name: last.name }, firstTimestamp: last.firstTimestamp, count: last.count + 1 };
      patch = { count: event.count, lastTimestamp: event.lastTimestamp, ...(event.message ? { message: event.message } : {}) };
    }
    this.observations.add(key, { count: event.count, firstTimestamp: event.firstTimestamp, name: event.metadata.name });
    return patch ? { event, patch } : { event };
  }

  /** EventSourceObjectSpamFilter: a token bucket per source and object; true = throttled. */
  private filter(e: KubeEventObject): boolean {
    const now = this.clock.now();
    const key = spamKey(e);
    const b = this.buckets.get(key) ?? { tokens: SPAM_BURST, at: now };
    b.tokens = Math.min(SPAM_BURST, b.tokens + (now - b.at) / SPAM_REFILL_MS);
    b.at = now;
    this.buckets.add(key, b);
    if (b.tokens < 1) return true;
    b.tokens--;
    return false;
  }
}
