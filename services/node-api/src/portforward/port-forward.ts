import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import type { NatsConnection } from '@nats-io/transport-node';
import type { ServiceClient } from '@splitlet/bus';
import type { ExecStreamService } from '@splitlet/contracts';
import type { Logger } from '@splitlet/telemetry';
import { ExecStream, stdinWrites } from '../exec/exec-stream';
import { negotiate, STREAM_CREATION_TIMEOUT_MS } from '../exec/remotecommand';
import type { PodSource } from '../logs/container-logs';
import { plain } from '../logs/container-logs';
import { rawResponse } from '../server';
import { SpdyServerConnection, type SpdyStream } from '../spdy/spdy-connection';
import type { InputStream, OutputStream, StreamConnection } from '../streaming';
import { isWebSocketRequest, upgradeToChannels, type ChannelType } from '../wsstream/channel-conn';

/** The kubelet's port-forward protocol over SPDY (portforward.SupportedProtocols). */
export const PORTFORWARD_PROTOCOLS = ['portforward.k8s.io'] as const;
/** The kubelet's port-forward protocols over a WebSocket (portforward handleWebSocketStreams). */
export const PORTFORWARD_WEBSOCKET_PROTOCOLS = ['', 'v4.channel.k8s.io', 'v4.base64.channel.k8s.io'] as const;

export interface PortForwardDeps {
  pods: PodSource;
  exec: ServiceClient<typeof ExecStreamService>;
  nc: NatsConnection;
  nodeName: string;
  logger: Logger;
  streamCreationTimeoutMs?: number;
}

/** The pod an /portForward request names (getPortForward's 404s); params [ns, pod] or [ns, pod, uid]. */
function targetPod(pods: PodSource, params: string[]): { uid: string; name: string } | { status: number; message: string } {
  const pod = pods.get(params[0]!, params[1]!);
  if (!pod?.metadata?.uid) return { status: 404, message: 'pod does not exist' };
  if (params.length === 3 && params[2] !== pod.metadata.uid) return { status: 404, message: 'pod not found' };
  return { uid: pod.metadata.uid, name: `${params[0]}/${params[1]}` };
}

export function servePortForwardWithoutUpgrade(deps: PortForwardDeps, req: IncomingMessage, res: ServerResponse, _url: URL, params: string[]): Promise<void> {
  const t = targetPod(deps.pods, params);
  if ('status' in t) return Promise.resolve(plain(res, t.status, t.message));
  const n = negotiate(req, PORTFORWARD_PROTOCOLS);
  plain(res, 'status' in n ? n.status : 400, 'status' in n ? n.message : 'unable to upgrade: missing upgrade headers in request');
  return Promise.resolve();
}

/**
 * GET/POST /portForward/{namespace}/{pod}[/{uid}]: the kubelet's ServePortForward over
 * SPDY (k8s.io/kubelet pkg/cri/streaming/portforward, httpStreamHandler). The client
 * opens an error and a data stream per connection, paired by `requestID` and naming
 * the `port`; each pair is one connection to that port on the pod's loopback, made by
 * runtime-executor inside the sandbox's network namespace and driven over NATS.
 */
export async function servePortForward(deps: PortForwardDeps, req: IncomingMessage, socket: Duplex, head: Buffer, url: URL, params: string[]): Promise<void> {
  if (isWebSocketRequest(req)) return servePortForwardWebSocket(deps, req, socket, head, url, params);
  const t = targetPod(deps.pods, params);
  if ('status' in t) return rawResponse(socket, t.status, t.message);
  const n = negotiate(req, PORTFORWARD_PROTOCOLS);
  if ('status' in n) return rawResponse(socket, n.status, `${n.message}\n`);
  if (!(req.headers.connection ?? '').toLowerCase().includes('upgrade') || !(req.headers.upgrade ?? '').toLowerCase().includes('spdy/3.1')) {
    return rawResponse(socket, 400, 'unable to upgrade: missing upgrade headers in request\n');
  }
  socket.write(`HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: SPDY/3.1\r\nX-Stream-Protocol-Version: ${n.protocol}\r\n\r\n`);
  const conn = new SpdyServerConnection(socket, head);
  const pairs = new Map<string, { data?: SpdyStream; error?: SpdyStream; timer: NodeJS.Timeout }>();
  const timeout = deps.streamCreationTimeoutMs ?? STREAM_CREATION_TIMEOUT_MS;
  conn.on('stream', (s) => {
    void conn.reply(s).catch(() => undefined);
    const type = s.headers['streamtype'];
    // Old clients send no requestID: the kubelet then pairs by stream id (data = error + 2).
    const requestId = s.headers['requestid'] ?? String(type === 'data' ? s.id - 2 : s.id);
    if (type !== 'data' && type !== 'error') return s.reset();
    let pair = pairs.get(requestId);
    if (!pair) {
      const timer = setTimeout(() => {
        const p = pairs.get(requestId);
        pairs.delete(requestId);
        p?.error?.write(Buffer.from('timed out waiting for streams'));
        p?.error?.end();
        p?.data?.reset();
      }, timeout);
      pair = { timer };
      pairs.set(requestId, pair);
    }
    if (pair[type]) return s.reset();
    pair[type] = s;
    if (pair.data && pair.error) {
      clearTimeout(pair.timer);
      pairs.delete(requestId);
      const portText = pair.data.headers['port'] ?? '';
      const port = /^\d{1,5}$/.test(portText) ? Number(portText) : NaN;
      if (port >= 1 && port <= 65535) void forward(deps, conn, t, port, pair.data, pair.error);
      else fail(pair.data, pair.error, `invalid port: ${JSON.stringify(portText)}`);
    }
  });
  conn.once('close', () => {
    for (const p of pairs.values()) clearTimeout(p.timer);
    pairs.clear();
  });
}

/** Most ports one WebSocket port-forward may name. */
const MAX_WEBSOCKET_PORTS = 127;

/**
 * The `port` query of a WebSocket port-forward (the API server's `ports` passed on as
 * `port`), as portforward.NewV4Options reads it: repeated or comma-separated, each
 * 1–65535; here also at most 127 (the kubelet's channel numbers would wrap past 255).
 */
export function webSocketPorts(q: URLSearchParams): number[] | { message: string } {
  const values = q.getAll('port');
  if (!values.length) return { message: 'query parameter "port" is required' };
  const ports: number[] = [];
  for (const value of values) {
    if (!value) return { message: 'query parameter "port" cannot be empty' };
    for (const p of value.split(',')) {
      const n = /^\d+$/.test(p) ? Number(p) : NaN;
      if (Number.isNaN(n)) return { message: `unable to parse ${JSON.stringify(value)} as a port: strconv.ParseUint: parsing ${JSON.stringify(p)}: invalid syntax` };
      if (n > 65535) return { message: `unable to parse ${JSON.stringify(value)} as a port: strconv.ParseUint: parsing ${JSON.stringify(p)}: value out of range` };
      if (n < 1) return { message: `port ${JSON.stringify(value)} must be > 0` };
      ports.push(n);
    }
  }
  // A channel number is one byte and 255 is reserved: port i's error channel is 2i+1.
  if (ports.length > MAX_WEBSOCKET_PORTS) return { message: `at most ${MAX_WEBSOCKET_PORTS} ports in one request` };
  return ports;
}

/**
 * GET /portForward/… with a WebSocket upgrade: the kubelet's handleWebSocketStreams. The
 * ports are the query's (400 first, as getPortForward checks them before the pod); each
 * port i is channel 2i (data, both ways) and 2i+1 (error, written only), both opened with
 * the port as 2 bytes little-endian; each is one connection to the pod's port, as over
 * SPDY. The WebSocket is closed once every port's connection ended; a client that goes
 * away closes them all.
 */
async function servePortForwardWebSocket(deps: PortForwardDeps, req: IncomingMessage, socket: Duplex, head: Buffer, url: URL, params: string[]): Promise<void> {
  const ports = webSocketPorts(url.searchParams);
  if (!Array.isArray(ports)) return rawResponse(socket, 400, ports.message);
  const t = targetPod(deps.pods, params);
  if ('status' in t) return rawResponse(socket, t.status, t.message);
  const conn = await upgradeToChannels(req, socket, head, PORTFORWARD_WEBSOCKET_PROTOCOLS, ports.flatMap((): ChannelType[] => ['readwrite', 'write']));
  if (!conn) return;
  const pairs = ports.map((port, i) => ({ port, data: conn.channels[2 * i]!, error: conn.channels[2 * i + 1]! }));
  for (const p of pairs) {
    const prefix = Buffer.alloc(2);
    prefix.writeUInt16LE(p.port);
    p.data.write(prefix);
    p.error.write(prefix);
  }
  await Promise.all(pairs.map((p) => forward(deps, conn, t, p.port, p.data, p.error)));
  conn.close();
}

const fail = (data: OutputStream, error: OutputStream, message: string) => {
  error.write(Buffer.from(message));
  error.end();
  data.end();
};

/** One forwarded connection: the data stream to and from the pod's port; a failure's words on the error stream. */
async function forward(deps: PortForwardDeps, conn: StreamConnection, pod: { uid: string; name: string }, port: number, data: InputStream & OutputStream, error: OutputStream): Promise<void> {
  let x: ExecStream | undefined;
  const gone = new AbortController();
  const onClose = () => {
    gone.abort();
    x?.close();
  };
  conn.once('close', onClose);
  try {
    const { streamId } = await deps.exec.openPortForward({ podUid: pod.uid, port }, { attributes: { 'k8s.pod.uid': pod.uid, 'k8s.pod.name': pod.name } });
    x = new ExecStream(deps.nc, deps.nodeName, streamId);
    if (gone.signal.aborted) return x.close();
    void pumpToPod(x, data, gone.signal);
    for (;;) {
      const out = await x.read();
      if (gone.signal.aborted) return;
      if (out.stdout.length && !data.write(out.stdout)) await conn.drained();
      if (out.exited) break;
    }
    data.end();
    error.end();
  } catch (err) {
    if (gone.signal.aborted) return;
    deps.logger.info({ pod: pod.name, port, err: (err as Error).message }, 'port-forward failed');
    fail(data, error, `error forwarding port ${port} to pod ${pod.uid}, uid : ${(err as Error).message}`);
  } finally {
    conn.off('close', onClose);
  }
}

async function pumpToPod(x: ExecStream, data: InputStream, signal: AbortSignal): Promise<void> {
  try {
    for await (const chunk of stdinWrites(data.readable)) {
      if (signal.aborted) return;
      await x.write(chunk);
    }
    // The client's FIN: the pod's side reads end of file.
    if (!signal.aborted) await x.closeStdin();
  } catch {
    // The client reset the data stream: this connection is over.
    if (!signal.aborted) x.close();
  }
}
