import { connect, type NatsConnection } from '@nats-io/transport-node';
import type { Logger } from 'pino';

export type { NatsConnection };

export interface BusConnectOptions {
  servers: string[];
  /** Client name shown by the server (`nats server report connections`). */
  name: string;
  logger: Logger;
}

/**
 * Connects to NATS and stays connected: waits for a server that is not up yet and
 * reconnects forever after a loss, logging each change, so a NATS outage delays a
 * service and never kills it.
 */
export async function connectBus(opts: BusConnectOptions): Promise<NatsConnection> {
  const nc = await connect({
    servers: opts.servers,
    name: opts.name,
    waitOnFirstConnect: true,
    maxReconnectAttempts: -1,
    reconnectTimeWait: 1000,
  });
  opts.logger.info({ server: nc.getServer() }, 'connected to NATS');
  void (async () => {
    for await (const s of nc.status()) {
      if (s.type === 'disconnect' || s.type === 'reconnect' || s.type === 'error') {
        opts.logger.warn({ event: s.type, status: s }, `NATS ${s.type}`);
      }
    }
  })();
  return nc;
}
