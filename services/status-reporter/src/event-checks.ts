import type { KubeEvent } from '@splitlet/contracts';
import type { GonePods, PodIdentity } from './gone-pods';
import type { PodCache } from './pod-cache';

// A KubeEvent is untrusted input: anything that may publish on the node's events
// subject can send one, and status-reporter writes it as the kubelet's Event. So it is
// written only about what this node's kubelet speaks of — the Node itself and the pods
// bound to it — as the pod cache (and the memory of pods deleted lately) shows them.

/** Why an event was refused; each is counted (EventWriter.writes.refused). */
export type EventRefusal =
  /** No involved object name (a Pod's namespace), or no reason. */
  | 'incomplete'
  /** Neither a Pod nor this node's Node: another kind, another node, a Node in a namespace or of another UID. */
  | 'not-this-node'
  /** The UID is a pod of this node (or one deleted lately) of another namespace or name. */
  | 'identity-mismatch'
  /** No such pod bound to this node, after waiting for the pod cache to show one. */
  | 'not-bound'
  /** Too many objects wait for the pod cache already. */
  | 'too-many-waiting'
  /** On another status shard's Events subject than its object's (each object's Events must meet one writer). */
  | 'wrong-shard';

/** What to do with an event now: write it, wait for the pod cache to show its pod, or refuse it. */
export type EventVerdict = 'write' | 'wait' | EventRefusal;

/**
 * Checks an event's involved object. The Node: kind Node, this node's name, no
 * namespace, no UID or the node's name (the kubelet's nodeRef has UID = name). A Pod:
 * the pod cache's pod of that UID (for a static pod's UID, its mirror pod) under that namespace and name — or a pod of that UID
 * deleted lately (its Killing events come as it goes) — and without a UID, the pod
 * cache's of that namespace and name. A pod the cache does not show (yet) is 'wait':
 * pod-sync's informer may be ahead of the pod cache's.
 */
export function checkInvolvedObject(e: KubeEvent, nodeName: string, cache: PodCache, gone: GonePods): EventVerdict {
  const o = e.involvedObject;
  if (!o?.name || !e.reason) return 'incomplete';
  if (o.apiVersion && o.apiVersion !== 'v1') return 'not-this-node';
  if (o.kind === 'Node') return o.name === nodeName && !o.namespace && (!o.uid || o.uid === nodeName) ? 'write' : 'not-this-node';
  if (o.kind !== 'Pod') return 'not-this-node';
  if (!o.namespace) return 'incomplete';
  const names = (p: Pick<PodIdentity, 'namespace' | 'name'>) => p.namespace === o.namespace && p.name === o.name;
  if (!o.uid) return cache.byName(o.namespace, o.name) ? 'write' : 'wait';
  // A static pod's Events carry its own UID: its mirror pod stands for it.
  const pod = cache.byUid(o.uid) ?? cache.mirrorOf?.(o.uid, o.namespace, o.name);
  if (pod) return names({ namespace: pod.metadata?.namespace ?? '', name: pod.metadata?.name ?? '' }) ? 'write' : 'identity-mismatch';
  const deleted = gone.get(o.uid);
  if (deleted) return names(deleted) ? 'write' : 'identity-mismatch';
  return 'wait';
}
