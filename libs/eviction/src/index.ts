export * from './thresholds';
export * from './memory-pressure';
