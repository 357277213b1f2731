import type { V1ContainerStatus, V1PodStatus } from '@kubernetes/client-node';

/**
 * The last state each container of a pod was shown in, over every status written
 * for it (and the API server's before the first), by name. The checks of an update
 * (update-checks.ts) compare with what the pod's containers were shown doing: with
 * only the last status written, an update that left the containers out — written,
 * since it moves nothing into a terminal phase — made the next one's checks forget
 * them, and a second update then moved a running pod to Failed as "rejected at
 * admission", or showed a container that had exited under restartPolicy Never
 * running again (found by status-reporter's fuzz test).
 */
export class ShownContainers {
  private readonly containers = new Map<string, V1ContainerStatus>();
  private readonly initContainers = new Map<string, V1ContainerStatus>();

  constructor(initial: V1PodStatus | undefined) {
    if (initial) this.add(initial);
  }

  /** A status written: each container it shows replaces what was known of it; those it leaves out stay. */
  add(status: V1PodStatus): void {
    for (const c of status.containerStatuses ?? []) this.containers.set(c.name, c);
    for (const c of status.initContainerStatuses ?? []) this.initContainers.set(c.name, c);
  }

  /** `old` with each container's last shown status in place of what it shows (or leaves out). */
  asStatus(old: V1PodStatus): V1PodStatus {
    return { ...old, containerStatuses: [...this.containers.values()], initContainerStatuses: [...this.initContainers.values()] };
  }
}
