export * from './client';
export * from './pod-informer';
export * from './errors';
export * from './service-informer';
