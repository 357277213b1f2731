export * from './thresholds';
export * from './tracker';
export * from './memory-pressure';
