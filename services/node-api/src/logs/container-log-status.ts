import type { V1ContainerStatus, V1Pod } from '@kubernetes/client-node';

/** Why a container's log cannot be read: the kubelet's own message (400). */
export class ContainerLogStatusError extends Error {
  override readonly name = 'ContainerLogStatusError';
}

/** Whether the pod's spec has the container (app, init or ephemeral): kubecontainer.GetContainerSpec. */
export function hasContainerSpec(pod: V1Pod, name: string): boolean {
  const spec = pod.spec;
  return [...(spec?.containers ?? []), ...(spec?.initContainers ?? []), ...(spec?.ephemeralContainers ?? [])].some((c) => c.name === name);
}

/**
 * The runtime's ID of the container instance whose log is asked for, from the pod's
 * status: pkg/kubelet/kubelet_pods.go's validateContainerLogStatus, with its messages.
 * "docker://<id>" → "<id>".
 */
export function containerLogId(pod: V1Pod, containerName: string, previous: boolean): { id: string; uri: string } {
  const podName = pod.metadata?.name ?? '';
  const status = findStatus(pod, containerName);
  const fail = (what: string) => new ContainerLogStatusError(`container "${containerName}" in pod "${podName}" ${what}`);
  if (!status) throw fail('is not available');
  const last = status.lastState?.terminated;
  const { waiting, running, terminated } = status.state ?? {};
  let uri: string;
  if (previous) {
    if (!last?.containerID) throw new ContainerLogStatusError(`previous terminated container "${containerName}" in pod "${podName}" not found`);
    uri = last.containerID;
  } else if (running) {
    uri = status.containerID ?? '';
  } else if (terminated) {
    // When the next instance did not start, terminated.containerID is empty: the last one's log.
    if (terminated.containerID) uri = terminated.containerID;
    else if (last?.containerID) uri = last.containerID;
    else throw fail('is terminated');
  } else if (last) {
    if (!last.containerID) throw fail('is terminated');
    uri = last.containerID;
  } else if (waiting) {
    if (waiting.reason === 'ErrImagePull') throw fail("is waiting to start: image can't be pulled");
    if (waiting.reason === 'ImagePullBackOff') throw fail('is waiting to start: trying and failing to pull image');
    throw fail(`is waiting to start: ${waiting.reason ?? ''}`);
  } else {
    throw fail('is waiting to start - no logs yet');
  }
  const m = /^[a-z0-9_-]+:\/\/(.+)$/i.exec(uri);
  if (!m) throw new ContainerLogStatusError(`invalid container ID: "${uri}"`);
  return { id: m[1]!, uri };
}

function findStatus(pod: V1Pod, name: string): V1ContainerStatus | undefined {
  const s = pod.status;
  return (s?.containerStatuses ?? []).find((c) => c.name === name) ?? (s?.initContainerStatuses ?? []).find((c) => c.name === name) ?? (s?.ephemeralContainerStatuses ?? []).find((c) => c.name === name);
}
