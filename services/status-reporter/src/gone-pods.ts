import { Lifecycle, scoped } from 'tsyringe';

/** Who a pod is: what an update or an Event about it must name together. */
export interface PodIdentity {
  uid: string;
  namespace: string;
  name: string;
}

/** How many deleted pods are remembered. */
export const GONE_REMEMBERED = 10_000;

/**
 * The node's pods deleted lately, by UID (bounded, oldest forgotten first; a UID is
 * never reused): those the status manager deleted or found gone, and those the pod
 * cache saw deleted. A late status for one is not written (it would only be a PATCH
 * answered 404); a late Event for one — Killing while pod-sync stops its containers —
 * still is, though the pod cache has dropped the pod. One per container: the status
 * manager, the event writer and the pod cache share it.
 */
@scoped(Lifecycle.ContainerScoped)
export class GonePods {
  private readonly pods = new Map<string, PodIdentity>();

  add(pod: PodIdentity): void {
    this.pods.delete(pod.uid);
    this.pods.set(pod.uid, pod);
    if (this.pods.size > GONE_REMEMBERED) this.pods.delete(this.pods.keys().next().value!);
  }

  has(uid: string): boolean {
    return this.pods.has(uid);
  }

  get(uid: string): PodIdentity | undefined {
    return this.pods.get(uid);
  }
}
