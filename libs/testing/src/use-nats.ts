import { afterAll, beforeAll } from 'vitest';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { startNatsServer, type NatsServer } from './nats-server';

/** A real nats-server and one plain client on it, set in beforeAll. */
export interface NatsFixture {
  server: NatsServer;
  nc: NatsConnection;
}

/**
 * A real nats-server (JetStream, temporary store) for the calling describe block or
 * file, with one client connected: started in beforeAll, closed in afterAll. Its
 * fields are set once beforeAll has run.
 */
export function useNatsServer(): NatsFixture {
  const fixture = {} as NatsFixture;
  beforeAll(async () => {
    fixture.server = await startNatsServer();
    fixture.nc = await connect({ servers: fixture.server.url });
  });
  afterAll(async () => {
    await fixture.nc?.close();
    await fixture.server?.stop();
  });
  return fixture;
}
