import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import type { NatsConnection } from '@nats-io/transport-node';
import type { ServiceClient } from '@splitlet/bus';
import type { ExecStreamService } from '@splitlet/contracts';
import type { Logger } from '@splitlet/telemetry';
import { ExecStream, STDIN_CHUNK } from '../exec/exec-stream';
import { negotiate, STREAM_CREATION_TIMEOUT_MS } from '../exec/remotecommand';
import type { PodSource } from '../logs/container-logs';
import { plain } from '../logs/container-logs';
import { rawResponse } from '../server';
import { SpdyServerConnection, type SpdyStream } from '../spdy/spdy-connection';

/** The kubelet's port-forward protocol over SPDY (portforward.SupportedProtocols). */
export const PORTFORWARD_PROTOCOLS = ['portforward.k8s.io'] as const;

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
export async function servePortForward(deps: PortForwardDeps, req: IncomingMessage, socket: Duplex, head: Buffer, _url: URL, params: string[]): Promise<void> {
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
      void forward(deps, conn, t, pair.data, pair.error);
    }
  });
  conn.once('close', () => {
    for (const p of pairs.values()) clearTimeout(p.timer);
    pairs.clear();
  });
}

/** One forwarded connection: the data stream to and from the pod's port; a failure's words on the error stream. */
async function forward(deps: PortForwardDeps, conn: SpdyServerConnection, pod: { uid: string; name: string }, data: SpdyStream, error: SpdyStream): Promise<void> {
  const portText = data.headers['port'] ?? '';
  const port = /^\d{1,5}$/.test(portText) ? Number(portText) : NaN;
  const fail = (message: string) => {
    error.write(Buffer.from(message));
    error.end();
    data.end();
  };
  if (!(port >= 1 && port <= 65535)) return fail(`invalid port: ${JSON.stringify(portText)}`);
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
    fail(`error forwarding port ${port} to pod ${pod.uid}, uid : ${(err as Error).message}`);
  } finally {
    conn.off('close', onClose);
  }
}

async function pumpToPod(x: ExecStream, data: SpdyStream, signal: AbortSignal): Promise<void> {
  try {
    for await (const chunk of data.readable as AsyncIterable<Buffer>) {
      for (let at = 0; at < chunk.length && !signal.aborted; at += STDIN_CHUNK) await x.write(chunk.subarray(at, at + STDIN_CHUNK));
      if (signal.aborted) return;
    }
    // The client's FIN: the pod's side reads end of file.
    if (!signal.aborted) await x.closeStdin();
  } catch {
    // The client reset the data stream: this connection is over.
    if (!signal.aborted) x.close();
  }
}
