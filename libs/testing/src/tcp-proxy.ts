import { createConnection, createServer, type Server, type Socket } from 'node:net';

export interface TcpProxy {
  /** The port it listens on (127.0.0.1), the same across down() and up(). */
  port: number;
  /** Whether it listens now. */
  readonly isUp: boolean;
  /** Connections accepted so far (since it was made). */
  readonly accepted: number;
  /**
   * "The server is gone": stops listening (new connections are refused) and resets
   * every open connection, both sides — a watch or a request in flight ends with an error.
   */
  down(): Promise<void>;
  /** Listens again on the same port. */
  up(): Promise<void>;
  close(): Promise<void>;
}

/**
 * A TCP proxy on 127.0.0.1 to `target` (e.g. the lab's API server) that a test can
 * take down and bring back. It does not look inside (TLS passes through), so a
 * client verifies the target's certificate: the target's SANs must hold 127.0.0.1.
 *
 * The port is picked below the kernel's ephemeral range (32768..60999 on Linux), so
 * while it is down no outgoing connection can take it and up() gets it back.
 */
export async function startTcpProxy(target: { host: string; port: number }): Promise<TcpProxy> {
  const open = new Set<Socket>();
  let accepted = 0;
  let server: Server | undefined;

  const listen = (port: number) =>
    new Promise<Server>((resolve, reject) => {
      const s = createServer((client) => {
        accepted++;
        const upstream = createConnection(target);
        open.add(client);
        open.add(upstream);
        const end = () => {
          open.delete(client);
          open.delete(upstream);
          client.destroy();
          upstream.destroy();
        };
        client.on('error', end).on('close', end);
        upstream.on('error', end).on('close', end);
        client.pipe(upstream);
        upstream.pipe(client);
      });
      s.once('error', reject);
      s.listen({ host: '127.0.0.1', port, exclusive: true }, () => {
        s.off('error', reject);
        resolve(s);
      });
    });

  let port = 0;
  for (let i = 0; i < 50 && !server; i++) {
    const p = 20_000 + Math.floor(Math.random() * 12_000);
    server = await listen(p).catch((err: NodeJS.ErrnoException) => {
      if (err.code === 'EADDRINUSE') return undefined;
      throw err;
    });
    if (server) port = p;
  }
  if (!server) throw new Error('no free port for the TCP proxy in 20000..31999');

  const closeServer = (s: Server) => new Promise<void>((resolve) => s.close(() => resolve()));
  const proxy: TcpProxy = {
    port,
    get isUp() {
      return server !== undefined;
    },
    get accepted() {
      return accepted;
    },
    async down() {
      const s = server;
      server = undefined;
      const closed = s ? closeServer(s) : Promise.resolve();
      for (const sock of open) sock.resetAndDestroy();
      open.clear();
      await closed;
    },
    async up() {
      if (!server) server = await listen(port);
    },
    close: () => proxy.down(),
  };
  return proxy;
}
