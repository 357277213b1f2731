export * from './tokens';
export * from './host';
export * from './clock';
export * from './host-memory';
export * from './tree-usage';
export * from './replicas/rendezvous';
export * from './replicas/membership';
export * from './replicas/leader-election';
