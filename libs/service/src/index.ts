export * from './tokens';
export * from './host';
export * from './clock';
export * from './host-memory';
export * from './tree-usage';
