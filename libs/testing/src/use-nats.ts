import { afterAll, afterEach, beforeAll } from 'vitest';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { startNatsServer, type NatsServer } from './nats-server';
import { startTcpProxy, type TcpProxy } from './tcp-proxy';

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

/** A replica's run in a test: its own connection, and how it is told to stop and ends. */
export interface ReplicaRun {
  nc: NatsConnection;
  stop: AbortController;
  done: Promise<void>;
}

/**
 * Replicas of a service on a real nats-server with a fake clock (the replicas
 * library's specs): each connects on its own (`connect()`, or through `proxy()` to be
 * cut off later) and is pushed to `runs`; after each test every run is told to stop,
 * the clock moved by `windDownMs` for its last steps, its run awaited and its
 * connection closed, then every proxy closed.
 */
export function useReplicaRuns<R extends ReplicaRun>(clock: { advance(ms: number): Promise<void> }, windDownMs: number) {
  const nats = useNatsServer();
  const runs: R[] = [];
  const proxies: TcpProxy[] = [];
  afterEach(async () => {
    for (const r of runs.splice(0)) {
      r.stop.abort();
      await clock.advance(windDownMs);
      await r.done.catch(() => undefined);
      await r.nc.close().catch(() => undefined);
    }
    for (const p of proxies.splice(0)) await p.close();
  });
  return {
    nats,
    runs,
    /** A connection that reconnects at once and for ever, directly or through via. */
    connect: (via?: TcpProxy) => connect({ servers: `127.0.0.1:${via?.port ?? nats.server.port}`, reconnectTimeWait: 50, maxReconnectAttempts: -1 }),
    /** A TCP proxy to the server, closed after the test: `down()` cuts off whoever connected through it. */
    proxy: async () => {
      const p = await startTcpProxy({ host: '127.0.0.1', port: nats.server.port });
      proxies.push(p);
      return p;
    },
  };
}
