import { createServer, request, type IncomingMessage, type ServerResponse } from 'node:http';
import { connect, type Socket } from 'node:net';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** The lab's Docker engine, as runtime-executor reaches it by default. */
const DOCKER_SOCKET = '/var/run/docker.sock';

/** `GET /containers/<id>/json` (any API version): docker inspect of a container. */
const INSPECT = /^\/(?:v[\d.]+\/)?containers\/[^/?]+\/json(?:\?|$)/;

export interface DockerProxy {
  /** DOCKER_HOST for it: unix:///…/docker.sock. */
  host: string;
  /**
   * Wedged, it holds every container inspect unanswered and passes everything else —
   * `_ping`, info, version, `docker ps`, events — as Docker's engine did when it
   * deadlocked in libnetwork. Unwedged, the held inspects go on to Docker.
   */
  wedge(on: boolean): void;
  /** Inspects held now (a caller that gave up may still count). */
  readonly held: number;
  close(): Promise<void>;
}

/**
 * An HTTP proxy on a socket of its own to the lab's Docker engine, which a test can
 * wedge: runtime-executor pointed at it (DOCKER_HOST) sees a real Docker whose inspects
 * hang. Streams (events, logs) and hijacked connections (exec, attach) pass through.
 */
export async function startDockerProxy(target = DOCKER_SOCKET): Promise<DockerProxy> {
  const dir = await mkdtemp(join(tmpdir(), 'splitlet-docker-proxy-'));
  const sock = join(dir, 'docker.sock');
  let wedged = false;
  const held: (() => void)[] = [];
  const open = new Set<Socket>();

  const forward = (req: IncomingMessage, res: ServerResponse) => {
    const up = request({ socketPath: target, method: req.method, path: req.url, headers: req.headers }, (answer) => {
      res.writeHead(answer.statusCode ?? 502, answer.headers);
      // A stream (events, a followed log) must reach the caller before its first chunk does.
      res.flushHeaders();
      answer.pipe(res);
    });
    up.on('error', () => res.destroy());
    res.on('close', () => up.destroy());
    req.pipe(up);
  };

  const server = createServer((req, res) => {
    if (wedged && req.method === 'GET' && INSPECT.test(req.url ?? '')) held.push(() => forward(req, res));
    else forward(req, res);
  });
  server.on('connection', (s) => {
    open.add(s);
    s.on('close', () => open.delete(s));
  });
  // exec and attach: Docker answers 101 and the connection becomes the stream, both ways.
  server.on('upgrade', (req: IncomingMessage, client: Socket, head: Buffer) => {
    const up = connect(target, () => {
      const lines = [`${req.method} ${req.url} HTTP/${req.httpVersion}`];
      for (let i = 0; i < req.rawHeaders.length; i += 2) lines.push(`${req.rawHeaders[i]}: ${req.rawHeaders[i + 1]}`);
      up.write(`${lines.join('\r\n')}\r\n\r\n`);
      if (head.length) up.write(head);
      up.pipe(client);
      client.pipe(up);
    });
    const end = () => {
      up.destroy();
      client.destroy();
    };
    up.on('error', end);
    client.on('error', end);
    up.on('close', end);
    client.on('close', end);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(sock, resolve);
  });

  return {
    host: `unix://${sock}`,
    wedge(on) {
      wedged = on;
      if (!on) for (const go of held.splice(0)) go();
    },
    get held() {
      return held.length;
    },
    async close() {
      held.length = 0;
      for (const s of open) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await rm(dir, { recursive: true, force: true });
    },
  };
}
