// The wire contracts between splitlet's services, generated from proto/ by
// `nx run contracts:generate` (buf + protoc-gen-es). Import from here only.
export * from './gen/splitlet/runtime/v1/runtime_pb';
export * from './gen/splitlet/runtime/v1/sandbox_pb';
export * from './gen/splitlet/runtime/v1/container_pb';
export * from './gen/splitlet/runtime/v1/logs_pb';
export * from './gen/splitlet/runtime/v1/exec_pb';
export * from './gen/splitlet/events/v1/events_pb';
export * from './gen/splitlet/probe/v1/probe_pb';
export * from './gen/splitlet/replica/v1/replica_pb';
export * from './gen/splitlet/metrics/v1/metrics_pb';
// Each metrics owner's GatherMetrics request and reply carry the same names: one namespace each.
export * as proberv1 from './gen/splitlet/prober/v1/prober_pb';
export * as podsyncv1 from './gen/splitlet/podsync/v1/podsync_pb';
// The status package mirrors Kubernetes' v1 names (ContainerStatus, ContainerState), which
// the runtime package's CRI names clash with: it is exported as a namespace.
export * as statusv1 from './gen/splitlet/status/v1/status_pb';
export { create, toBinary, fromBinary, type MessageShape, type DescService, type DescMethod } from '@bufbuild/protobuf';
