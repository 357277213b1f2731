/** DI tokens every service's container provides (tsyringe; inject with @inject(TOKENS.X)). */
export const TOKENS = {
  /** The service's validated configuration object. */
  Config: Symbol('Config'),
  /** pino Logger. */
  Logger: Symbol('Logger'),
  /** NatsConnection. */
  Nats: Symbol('Nats'),
  /** The service's NATS micro service (@nats-io/services Service). */
  MicroService: Symbol('MicroService'),
  /** Clock: the time source, injected so tests never sleep. */
  Clock: Symbol('Clock'),
  /** The node's name. */
  NodeName: Symbol('NodeName'),
} as const;
