import type { NatsConnection } from '@nats-io/transport-node';
import { KubeEventSchema } from '@splitlet/contracts';
import { publish } from './pubsub';
import { nodePrefix } from './subjects';

/** Where services hand Kubernetes Events to status-reporter, the one writer of Events. */
export const kubeEventsSubject = (nodeName: string): string => `${nodePrefix(nodeName)}.events.v1.kube`;

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
 * Records an event about a pod, as the kubelet's recorder.Eventf: best effort (a
 * lost event is not retried, as client-go's broadcaster drops under pressure).
 */
export function recordPodEvent(nc: NatsConnection, nodeName: string, target: EventTarget, type: 'Normal' | 'Warning', reason: string, message: string): void {
  void publish(nc, kubeEventsSubject(nodeName), KubeEventSchema, {
    involvedObject: { kind: 'Pod', apiVersion: 'v1', namespace: target.namespace, name: target.name, uid: target.uid, resourceVersion: target.resourceVersion ?? '', fieldPath: target.fieldPath ?? '' },
    type,
    reason,
    message,
    timestamp: uniqueNanos(),
  }).catch(() => undefined);
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
