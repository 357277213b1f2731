/**
 * Span attribute keys shared by every service (see ARCHITECTURE.md, Tracing).
 * Kubernetes keys follow the OpenTelemetry k8s semantic conventions.
 */
export const ATTR = {
  nodeName: 'k8s.node.name',
  podUid: 'k8s.pod.uid',
  podName: 'k8s.pod.name',
  namespace: 'k8s.namespace.name',
  containerName: 'k8s.container.name',
  containerId: 'container.id',
  messagingSystem: 'messaging.system',
  messagingDestination: 'messaging.destination.name',
  messagingOperation: 'messaging.operation.type',
  rpcMethod: 'rpc.method',
  rpcService: 'rpc.service',
} as const;
