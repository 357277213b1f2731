import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { tmpdir } from 'node:os';
import { join, posix } from 'node:path';

/**
 * An HTTP server on a unix socket that answers as the Docker Engine's router does for
 * what the executor asks of it, knowing no container and no image: a path that is not
 * clean ("/containers/../info/json", "/images//json") gets a 301 to the cleaned path
 * (gorilla/mux's cleanPath, which Docker's API router keeps on), an unknown container
 * or image a 404 with Docker's message. Behind the real dockerode it reproduces what
 * made docker-modem follow a redirect into a crash.
 */
export interface FakeDockerApi {
  /** DOCKER_HOST for connectDocker. */
  host: string;
  /** Requests received, "METHOD path" in order. */
  requests: string[];
  /** Connections open now: a request given up by the client closes its connection. */
  openConnections(): Promise<number>;
  close(): Promise<void>;
}

export interface FakeDockerOptions {
  /**
   * How long to wait before answering "METHOD path": 'never' holds the request
   * unanswered (a wedged engine), 'stream' answers 200 at once and then sends nothing
   * more while the client stays (an event stream). Answered at once when undefined.
   */
  delay?: (request: string) => number | 'never' | 'stream' | undefined;
}

/** Go's path.Clean, keeping a trailing slash as gorilla/mux's cleanPath does. */
function cleanPath(p: string): string {
  if (p === '') return '/';
  const cleaned = posix.normalize(p.startsWith('/') ? p : `/${p}`).replace(/\/+$/, '') || '/';
  return p.endsWith('/') && cleaned !== '/' ? `${cleaned}/` : cleaned;
}

export async function startFakeDockerApi(opts: FakeDockerOptions = {}): Promise<FakeDockerApi> {
  const dir = await mkdtemp(join(tmpdir(), 'fake-docker-'));
  const socketPath = join(dir, 'docker.sock');
  const requests: string[] = [];
  const server: Server = createServer((req, res) => {
    const request = `${req.method} ${req.url}`;
    requests.push(request);
    const delay = opts.delay?.(request);
    if (delay === 'never') return;
    if (delay === 'stream') {
      res.writeHead(200, { 'Content-Type': 'application/json' });
      res.flushHeaders();
      return;
    }
    if (delay !== undefined) {
      setTimeout(() => answer(req, res), delay);
      return;
    }
    answer(req, res);
  });
  const answer = (req: IncomingMessage, res: ServerResponse) => {
    // The raw path (WHATWG URL would clean it already); Go's URL.Path is the decoded
    // one: %2F is a "/" to the router.
    const [raw = '/', query] = (req.url ?? '/').split('?', 2);
    const search = query === undefined ? '' : `?${query}`;
    let path: string;
    try {
      path = decodeURIComponent(raw);
    } catch {
      // Go's url.ParseRequestURI refuses a bad escape: net/http answers 400 before any router.
      res.writeHead(400, { 'Content-Type': 'text/plain; charset=utf-8' });
      res.end('400 Bad Request');
      return;
    }
    const clean = cleanPath(path);
    const json = (status: number, body: unknown) => {
      res.writeHead(status, { 'Content-Type': 'application/json' });
      res.end(JSON.stringify(body));
    };
    if (clean !== path) {
      res.writeHead(301, { Location: clean + search, 'Content-Type': 'text/html; charset=utf-8' });
      res.end(`<a href="${clean}">Moved Permanently</a>.\n`);
      return;
    }
    const container = /^\/containers\/([^/]+)\/json$/.exec(path);
    if (container) return json(404, { message: `No such container: ${container[1]}` });
    const image = /^\/images\/(.+)\/json$/.exec(path);
    if (image) return json(404, { message: `No such image: ${image[1]}` });
    if (path === '/version') return json(200, { Version: '20.10.24', ApiVersion: '1.41' });
    if (path === '/info') return json(200, { DockerRootDir: '/var/lib/docker', ServerVersion: '20.10.24' });
    return json(404, { message: 'page not found' });
  };
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(socketPath, resolve);
  });
  return {
    host: `unix://${socketPath}`,
    requests,
    openConnections: () => new Promise((resolve, reject) => server.getConnections((err, n) => (err ? reject(err) : resolve(n)))),
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await rm(dir, { recursive: true, force: true });
    },
  };
}
