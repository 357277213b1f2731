export * from './errors';
export * from './subjects';
export * from './tracing';
export * from './connection';
export * from './rpc';
export * from './pubsub';
export * from './streams';
export * from './kube-events';
