import 'reflect-metadata';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { Svcm, type Service } from '@nats-io/services';
import { container, type DependencyContainer } from 'tsyringe';
import { registerCommon } from '@splitlet/service';
import { commonSchema, loadConfig } from '@splitlet/config';
import { createLogger } from '@splitlet/telemetry';
import { startNatsServer, type NatsServer } from './nats-server';

export interface ServiceHarness {
  server: NatsServer;
  /** The service's own connection (as runService would make it). */
  nc: NatsConnection;
  /** A second connection, as another service or a caller would have. */
  peer: NatsConnection;
  micro: Service;
  /** A child container holding the common TOKENS; register fakes in it. */
  container: DependencyContainer;
  nodeName: string;
  close(): Promise<void>;
}

/**
 * A service's surroundings for a unit test: a real nats-server, a micro service
 * and a DI container with the common TOKENS, as runService sets them up.
 */
export async function startServiceHarness(name: string, nodeName = 'test-node'): Promise<ServiceHarness> {
  const server = await startNatsServer();
  const nc = await connect({ servers: server.url });
  const peer = await connect({ servers: server.url });
  const micro = await new Svcm(nc).add({ name, version: '0.0.0-test', metadata: { node: nodeName } });
  const child = container.createChildContainer();
  const config = loadConfig(commonSchema, { SPLITLET_NODE_NAME: nodeName, NATS_URL: server.url });
  registerCommon(child, config, createLogger(name, { level: 'silent' }), nc, micro);
  return {
    server,
    nc,
    peer,
    micro,
    container: child,
    nodeName,
    close: async () => {
      await micro.stop().catch(() => undefined);
      await nc.close();
      await peer.close();
      await server.stop();
    },
  };
}

