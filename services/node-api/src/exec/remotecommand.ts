import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { rawResponse } from '../server';
import { SpdyServerConnection, type SpdyStream } from '../spdy/spdy-connection';
import type { InputStream, OutputStream, StreamConnection } from '../streaming';
import { upgradeToChannels, type ChannelType } from '../wsstream/channel-conn';

// The server side of Kubernetes' remote command protocol over SPDY, as the kubelet's
// streaming server speaks it (k8s.io/kubelet pkg/cri/streaming/remotecommand and
// k8s.io/apimachinery httpstream: Handshake, the SPDY response upgrader).

/** The protocols the kubelet accepts over SPDY, its order (remotecommand's SupportedStreamingProtocols). */
export const REMOTECOMMAND_PROTOCOLS = ['v4.channel.k8s.io', 'v3.channel.k8s.io', 'v2.channel.k8s.io', 'channel.k8s.io'] as const;
/** The kubelet's stream creation timeout (remotecommand DefaultStreamCreationTimeout). */
export const STREAM_CREATION_TIMEOUT_MS = 30_000;

export interface StreamOptions {
  stdin: boolean;
  stdout: boolean;
  stderr: boolean;
  tty: boolean;
}

/**
 * remotecommand.NewOptions: the query's "1"s, named as the API server sends them to the
 * kubelet (core/v1 ExecStdinParam "input", ExecStdoutParam "output", ExecStderrParam
 * "error", ExecTTYParam "tty"; PodExecOptions' stdin/stdout/stderr also taken); a TTY has
 * no stderr. Undefined: none asked (400).
 */
export function streamOptions(q: URLSearchParams): StreamOptions | undefined {
  const on = (...names: string[]) => names.some((n) => q.get(n) === '1' || q.get(n) === 'true');
  const tty = on('tty');
  const o = { stdin: on('input', 'stdin'), stdout: on('output', 'stdout'), stderr: on('error', 'stderr') && !tty, tty };
  return o.stdin || o.stdout || o.stderr ? o : undefined;
}

/** httpstream.Handshake: the first of the client's protocols the server speaks; undefined: none. */
export function negotiate(req: IncomingMessage, server: readonly string[]): { protocol: string } | { status: number; message: string } {
  const raw = req.headersDistinct['x-stream-protocol-version'];
  if (!raw) return { status: 400, message: `unable to upgrade: header X-Stream-Protocol-Version does not exist in request with ${Object.keys(req.headers).length} headers` };
  const client = raw.flatMap((v) => v.split(',')).map((v) => v.trim()).filter(Boolean);
  if (!client.length) return { status: 400, message: `unable to upgrade: header X-Stream-Protocol-Version contains [${raw.join(' ')}], but no valid protocols` };
  const protocol = client.find((p) => server.includes(p));
  if (!protocol) return { status: 403, message: `unable to upgrade: unable to negotiate protocol: client supports [${client.join(' ')}], server accepts [${server.join(' ')}]` };
  return { protocol };
}

/** A remote command session's streams (SPDY: by `streamType`, once the client created all it asked for; WebSocket: by channel). */
export interface RemoteCommandStreams {
  protocol: string;
  conn: StreamConnection;
  error?: OutputStream;
  stdin?: InputStream;
  stdout?: OutputStream;
  stderr?: OutputStream;
  resize?: InputStream;
}

/**
 * Negotiates the protocol, upgrades the socket to SPDY/3.1 (101 Switching Protocols) and
 * waits for the client's streams: error, and stdin/stdout/stderr as asked, resize with a
 * TTY from v3 on (createHTTPStreamStreams). Undefined when the request was refused
 * (answered) or the streams did not come in time (closed).
 */
export async function upgradeRemoteCommand(req: IncomingMessage, socket: Duplex, head: Buffer, opts: StreamOptions, timeoutMs = STREAM_CREATION_TIMEOUT_MS): Promise<RemoteCommandStreams | undefined> {
  const n = negotiate(req, REMOTECOMMAND_PROTOCOLS);
  if ('status' in n) {
    rawResponse(socket, n.status, `${n.message}\n`, n.status === 403 ? { 'X-Accepted-Stream-Protocol-Versions': REMOTECOMMAND_PROTOCOLS.join(', ') } : {});
    return undefined;
  }
  if (!isSpdyUpgrade(req)) {
    rawResponse(socket, 400, `unable to upgrade: missing upgrade headers in request\n`);
    return undefined;
  }
  socket.write(`HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: SPDY/3.1\r\nX-Stream-Protocol-Version: ${n.protocol}\r\n\r\n`);
  const conn = new SpdyServerConnection(socket, head);
  const resizes = n.protocol === 'v4.channel.k8s.io' || n.protocol === 'v3.channel.k8s.io';
  const expected = 1 + Number(opts.stdin) + Number(opts.stdout) + Number(opts.stderr) + Number(opts.tty && resizes);
  const got: { protocol: string; conn: SpdyServerConnection } & Partial<Record<'error' | 'stdin' | 'stdout' | 'stderr' | 'resize', SpdyStream>> = { protocol: n.protocol, conn };
  const ok = await new Promise<boolean>((resolve) => {
    let replied = 0;
    const timer = setTimeout(() => finish(false), timeoutMs);
    const onClose = () => finish(false);
    const onStream = (s: SpdyStream) => {
      const type = s.headers['streamtype'];
      if (type === 'error' || type === 'stdin' || type === 'stdout' || type === 'stderr' || (type === 'resize' && resizes)) got[type] = s;
      else {
        s.reset();
        return;
      }
      conn.reply(s).then(
        () => ++replied === expected && finish(true),
        () => finish(false),
      );
    };
    function finish(done: boolean) {
      clearTimeout(timer);
      conn.off('stream', onStream);
      conn.off('close', onClose);
      resolve(done);
    }
    conn.on('stream', onStream);
    conn.on('close', onClose);
  });
  if (!ok) {
    conn.destroy();
    return undefined;
  }
  return got;
}

function isSpdyUpgrade(req: IncomingMessage): boolean {
  return (req.headers.connection ?? '').toLowerCase().includes('upgrade') && (req.headers.upgrade ?? '').toLowerCase().includes('spdy/3.1');
}

/**
 * The protocols the kubelet accepts over a WebSocket (remotecommand createWebSocketStreams):
 * no protocol, `channel.k8s.io` and `base64.channel.k8s.io` (v1 statuses),
 * `v4.channel.k8s.io` and `v4.base64.channel.k8s.io` (metav1.Status JSON). Not v5: the API
 * server answers a v5 client itself, over SPDY to the kubelet.
 */
export const REMOTECOMMAND_WEBSOCKET_PROTOCOLS = ['', 'channel.k8s.io', 'base64.channel.k8s.io', 'v4.channel.k8s.io', 'v4.base64.channel.k8s.io'] as const;

/** The remote command channels (remotecommand websocket.go): stdin, stdout, stderr, error, resize. */
const CHANNEL = { stdin: 0, stdout: 1, stderr: 2, error: 3, resize: 4 } as const;

/**
 * The remote command protocol over a WebSocket (createWebSocketStreams): the channels
 * asked for, the error channel always, resize with a terminal (the kubelet reads it only
 * then); once open, an empty message on the first channel the server writes (stdout,
 * else stderr, else error) tells the client the session is established. Undefined when
 * the upgrade was refused (answered).
 */
export async function upgradeRemoteCommandWebSocket(req: IncomingMessage, socket: Duplex, head: Buffer, opts: StreamOptions): Promise<RemoteCommandStreams | undefined> {
  const types: ChannelType[] = [opts.stdin ? 'read' : 'ignore', opts.stdout ? 'write' : 'ignore', opts.stderr ? 'write' : 'ignore', 'write', opts.tty ? 'read' : 'ignore'];
  const conn = await upgradeToChannels(req, socket, head, REMOTECOMMAND_WEBSOCKET_PROTOCOLS, types);
  if (!conn) return undefined;
  const ch = conn.channels;
  ch[opts.stdout ? CHANNEL.stdout : opts.stderr ? CHANNEL.stderr : CHANNEL.error]!.write(new Uint8Array(0));
  return {
    protocol: conn.protocol,
    conn,
    error: ch[CHANNEL.error]!,
    ...(opts.stdin ? { stdin: ch[CHANNEL.stdin]! } : {}),
    ...(opts.stdout ? { stdout: ch[CHANNEL.stdout]! } : {}),
    ...(opts.stderr ? { stderr: ch[CHANNEL.stderr]! } : {}),
    ...(opts.tty ? { resize: ch[CHANNEL.resize]! } : {}),
  };
}

/** A metav1.Status as the kubelet writes it on the error stream (v4: JSON; before: the message, failures only). */
export interface ExecStatus {
  status: 'Success' | 'Failure';
  message?: string;
  reason?: string;
  code?: number;
  details?: { causes: { reason?: string; message: string }[] };
}

export function statusBytes(protocol: string, s: ExecStatus): Buffer | undefined {
  // v4.channel.k8s.io (SPDY and WebSocket) and v4.base64.channel.k8s.io (WebSocket).
  if (protocol.startsWith('v4.')) return Buffer.from(JSON.stringify({ metadata: {}, ...s }));
  return s.status === 'Success' ? undefined : Buffer.from(s.message ?? '');
}

/** The kubelet's ServeExec status for an exit code (the message in containerd's CRI words). */
export const exitStatus = (code: number, cmd: string[]): ExecStatus =>
  code === 0
    ? { status: 'Success' }
    : {
        status: 'Failure',
        message: `command terminated with non-zero exit code: error executing command [${cmd.join(' ')}], exit code ${code}`,
        reason: 'NonZeroExitCode',
        details: { causes: [{ reason: 'ExitCode', message: String(code) }] },
      };

/** apierrors.NewInternalError as ServeExec (`error executing command in container`) and ServeAttach (`error attaching to container`) write it. */
export const internalError = (message: string, doing = 'error executing command in container'): ExecStatus => ({
  status: 'Failure',
  message: `Internal error occurred: ${doing}: ${message}`,
  reason: 'InternalError',
  code: 500,
  details: { causes: [{ message: `${doing}: ${message}` }] },
});
