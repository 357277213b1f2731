export * from './sdk';
export * from './logger';
export * from './attributes';
export * from './trace-ids';
export * from './service-scope';
