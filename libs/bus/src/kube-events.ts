import { randomUUID } from 'node:crypto';
import type { NatsConnection } from '@nats-io/transport-node';
import { KubeEventSchema } from '@splitlet/contracts';
import { ensureKubeEventsStream, kubeEventsSubject, publishEnsuring } from './streams';

/** The pod an event is about (the involved object), and the container field path when about a container. */
export interface EventTarget {
  namespace: string;
  name: string;
  uid: string;
  resourceVersion?: string;
  /** e.g. "spec.containers{app}" (the kubelet's container field path) */
  fieldPath?: string;
}

/**
 * Records an event about a pod, as the kubelet's recorder.Eventf: into the node's
 * Events stream (kubeEventsStreamName), which keeps it until status-reporter has
 * written it — also while status-reporter is away. Best effort all the same: an event
 * the stream does not take (NATS away) is not retried, as client-go's broadcaster
 * drops under pressure. Its message id makes a repeat a no-op.
 */
export function recordPodEvent(nc: NatsConnection, nodeName: string, target: EventTarget, type: 'Normal' | 'Warning', reason: string, message: string, annotations: Record<string, string> = {}): void {
  const msgId = randomUUID();
  void publishEnsuring(nc, () => ensureKubeEventsStream(nc, nodeName), kubeEventsSubject(nodeName, target.uid), KubeEventSchema, {
    involvedObject: { kind: 'Pod', apiVersion: 'v1', namespace: target.namespace, name: target.name, uid: target.uid, resourceVersion: target.resourceVersion ?? '', fieldPath: target.fieldPath ?? '' },
    type,
    reason,
    message,
    timestamp: uniqueNanos(),
    annotations,
  }, { msgId }).catch(() => undefined);
}

let lastNanos = 0n;
/**
 * Now in Unix nanoseconds, distinct for every call of this process. An Event is named
 * `<object>.<hex nanos>` (client-go's scheme, which has real nanoseconds); the clock
 * here has milliseconds, and two Events of one pod in the same millisecond must not
 * share a name (the second create would be refused as AlreadyExists).
 */
export function uniqueNanos(): bigint {
  const now = BigInt(Date.now()) * 1_000_000n;
  lastNanos = now > lastNanos ? now : lastNanos + 1n;
  return lastNanos;
}

/** The kubelet's field path for a container of a pod spec. */
export const containerFieldPath = (name: string, init = false, ephemeral = false): string => `spec.${init ? 'initContainers' : ephemeral ? 'ephemeralContainers' : 'containers'}{${name}}`;

/**
 * Records an event about this node's Node object, as the kubelet's recorder.Eventf on
 * its nodeRef (kind Node, UID = the node's name; written to "default"). As
 * recordPodEvent: through the node's Events stream, best effort.
 */
export function recordNodeEvent(nc: NatsConnection, nodeName: string, type: 'Normal' | 'Warning', reason: string, message: string): void {
  void publishEnsuring(nc, () => ensureKubeEventsStream(nc, nodeName), kubeEventsSubject(nodeName, nodeName), KubeEventSchema, {
    involvedObject: { kind: 'Node', apiVersion: 'v1', namespace: '', name: nodeName, uid: nodeName, resourceVersion: '', fieldPath: '' },
    type,
    reason,
    message,
    timestamp: uniqueNanos(),
  }, { msgId: randomUUID() }).catch(() => undefined);
}

