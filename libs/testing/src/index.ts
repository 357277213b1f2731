export * from './nats-server';
export * from './fake-clock';
export * from './paths';
export * from './service-harness';
export * from './service-process';
export * from './service-lifecycle';
export * from './lab';
