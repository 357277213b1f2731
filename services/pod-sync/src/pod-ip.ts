import { PodSandboxState, type PodSandboxStatus } from '@splitlet/contracts';

/**
 * The pod IP a status shows, as the kubelet's: a host-network pod has the node's; else
 * the ready sandbox's. With no ready sandbox (the pod finished and its sandbox was
 * stopped, or the sandbox died and a new one is not up yet) the runtime reports no IP,
 * and the pod keeps the one it showed last: the kubelet copies the IPs of the status
 * before the kill into a terminating pod's final status (kubelet.go SyncTerminatingPod,
 * kubernetes#125404: a finished pod's IP was removed for a moment, then for good), and
 * keeps an old IP while every sandbox is dead (kubernetes#47806).
 */
export function podIPOf(sandboxes: readonly PodSandboxStatus[], hostNetworkIP: string | undefined, shownIP: string | undefined): string {
  if (hostNetworkIP !== undefined) return hostNetworkIP;
  const ready = sandboxes.find((s) => s.state === PodSandboxState.READY);
  if (ready) return ready.network?.ip ?? '';
  return shownIP ?? '';
}
