export * from './conditions';
export * from './features';
export * from './phase';
export * from './qos';
export * from './reasons';
export * from './wire';
