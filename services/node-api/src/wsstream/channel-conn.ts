import { EventEmitter } from 'node:events';
import type { IncomingMessage } from 'node:http';
import { Readable, type Duplex } from 'node:stream';
import { WebSocketServer, type RawData, type WebSocket } from 'ws';
import { rawResponse } from '../server';
import type { InputStream, OutputStream, StreamConnection } from '../streaming';

// Kubernetes' channel protocols over a WebSocket, as the kubelet's streaming server speaks
// them (k8s.io/apiserver pkg/util/wsstream, conn.go): every message carries one channel's
// bytes, its first byte the channel number — `channel.k8s.io` (and `v4.channel.k8s.io`,
// and no protocol at all) a binary message with the number as a byte,
// `base64.channel.k8s.io` (and `v4.base64…`) a text message with the number as an ASCII
// digit and the bytes in standard base64. The WebSocket framing itself is the `ws`
// package's.

/** What the connection does with a channel (wsstream.ChannelType). */
export type ChannelType = 'ignore' | 'read' | 'write' | 'readwrite';

/** golang.org/x/net/websocket's DefaultMaxPayloadBytes: the largest message taken from a client. */
const MAX_PAYLOAD = 32 << 20;
/** Bytes queued on the socket above which `write` asks the caller to wait for `drained()`. */
const HIGH_WATER = 256 * 1024;

/** wsstream.IsWebSocketRequest: `Upgrade: websocket` and a Connection header naming upgrade. */
export function isWebSocketRequest(req: IncomingMessage): boolean {
  if ((req.headers.upgrade ?? '').toLowerCase() !== 'websocket') return false;
  return /(^|.*,\s*)upgrade($|\s*,)/.test((req.headers.connection ?? '').toLowerCase());
}

/**
 * wsstream's handshake: the first protocol the client offers (Sec-WebSocket-Protocol, in
 * its order) that the server speaks; a client that offers none asks for "" (binary
 * channels, answered without a protocol). Undefined: nothing in common.
 */
export function negotiateChannelProtocol(req: IncomingMessage, server: readonly string[]): string | undefined {
  const offered = (req.headersDistinct['sec-websocket-protocol'] ?? []).flatMap((v) => v.split(',')).map((v) => v.trim()).filter(Boolean);
  return (offered.length ? offered : ['']).find((p) => server.includes(p));
}

/** Whether a negotiated protocol sends its channels as base64 text. */
const isBase64 = (protocol: string) => protocol === 'base64.channel.k8s.io' || protocol === 'v4.base64.channel.k8s.io';

/** The protocol each upgrade request was granted, for ws's protocol hook. */
const granted = new WeakMap<IncomingMessage, string>();
const wss = new WebSocketServer({
  noServer: true,
  clientTracking: false,
  // x/net/websocket, the kubelet's, offers no compression either.
  perMessageDeflate: false,
  maxPayload: MAX_PAYLOAD,
  handleProtocols: (_offered, req) => granted.get(req) || false,
});

/**
 * Negotiates the protocol and upgrades the socket to a WebSocket (101, the protocol in
 * Sec-WebSocket-Protocol unless the client offered none), with the channels `types`
 * describe. Undefined when refused (answered: 403 with no body as x/net/websocket, when no
 * protocol is in common; ws's 400 or 405 for a handshake that is not a WebSocket's).
 */
export async function upgradeToChannels(req: IncomingMessage, socket: Duplex, head: Buffer, protocols: readonly string[], types: ChannelType[]): Promise<ChannelConnection | undefined> {
  const protocol = negotiateChannelProtocol(req, protocols);
  if (protocol === undefined) {
    rawResponse(socket, 403, '');
    return undefined;
  }
  granted.set(req, protocol);
  const ws = await new Promise<WebSocket | undefined>((resolve) => {
    // ws answers a bad handshake itself and never calls back: the socket's close says so.
    const onClose = () => resolve(undefined);
    socket.once('close', onClose);
    wss.handleUpgrade(req, socket, head, (w) => {
      socket.off('close', onClose);
      resolve(w);
    });
  });
  return ws && new ChannelConnection(ws, protocol, types);
}

/** One channel of a connection: what is read from it (when it reads), what is written to it. */
export class Channel implements OutputStream, InputStream {
  /** The client's bytes on this channel; ends when the connection closes. An ignored or write-only channel's never has any. */
  readonly readable: Readable;

  constructor(
    private readonly conn: ChannelConnection,
    readonly num: number,
    readonly type: ChannelType,
  ) {
    this.readable = new Readable({ read: () => conn.resumeReading() });
    this.readable.on('error', () => undefined);
  }

  get reads(): boolean {
    return this.type === 'read' || this.type === 'readwrite';
  }

  get writes(): boolean {
    return this.type === 'write' || this.type === 'readwrite';
  }

  /** One message on this channel (a write-only or ignored channel drops it, as wsstream's). */
  write(data: Uint8Array): boolean {
    return this.writes ? this.conn.send(this.num, data) : true;
  }

  /** wsstream's channel Close sends nothing: a channel has no half-close before v5. */
  end(): void {}
}

/**
 * A WebSocket carrying numbered channels (wsstream.Conn). Incoming messages go to their
 * channel's `readable` (a message for a channel out of range, or one that does not read,
 * is dropped; bad base64 too, as wsstream logs and skips it), the socket paused while a
 * reader lags. Emits 'close' once the WebSocket closed.
 */
export class ChannelConnection extends EventEmitter<{ close: [] }> implements StreamConnection {
  readonly channels: Channel[];
  private readonly base64: boolean;
  private lastSend: Promise<void> = Promise.resolve();
  private closed = false;

  constructor(
    private readonly ws: WebSocket,
    readonly protocol: string,
    types: ChannelType[],
  ) {
    super();
    this.base64 = isBase64(protocol);
    this.channels = types.map((t, i) => new Channel(this, i, t));
    ws.on('message', (data: RawData) => this.onMessage(data as Buffer));
    ws.on('close', () => this.teardown());
    ws.on('error', () => {
      ws.terminate();
      this.teardown();
    });
  }

  get isClosed(): boolean {
    return this.closed;
  }

  /** @internal one channel's message, framed for the protocol. */
  send(num: number, data: Uint8Array): boolean {
    if (this.closed) return true;
    const frame = this.base64 ? String.fromCharCode(48 + num) + Buffer.from(data.buffer, data.byteOffset, data.byteLength).toString('base64') : Buffer.concat([Buffer.of(num), data]);
    this.lastSend = new Promise((resolve) => this.ws.send(frame, { binary: !this.base64 }, () => resolve()));
    return this.ws.bufferedAmount < HIGH_WATER;
  }

  drained(): Promise<void> {
    return this.lastSend;
  }

  /** Ends the session: a normal close (1000) after what was queued; the socket goes once the client answers, or after ws's 30 s. */
  close(): void {
    if (this.closed) return;
    this.ws.close(1000);
  }

  /** Drops the connection at once. */
  destroy(): void {
    this.ws.terminate();
    this.teardown();
  }

  /** @internal */
  resumeReading(): void {
    if (this.ws.isPaused) this.ws.resume();
  }

  private onMessage(data: Buffer): void {
    if (!data.length) return;
    const num = (this.base64 ? data[0]! - 48 : data[0]!) & 0xff;
    const channel = this.channels[num];
    if (!channel?.reads) return;
    let payload = data.subarray(1);
    if (this.base64) {
      const text = payload.toString('latin1').replace(/[\r\n]/g, '');
      if (text.length % 4 !== 0 || !/^[A-Za-z0-9+/]*={0,2}$/.test(text)) return;
      payload = Buffer.from(text, 'base64');
    }
    if (payload.length && !channel.readable.push(payload)) this.ws.pause();
  }

  private teardown(): void {
    if (this.closed) return;
    this.closed = true;
    // 'close' first: a session sees the client gone before its input streams end.
    this.emit('close');
    for (const c of this.channels) if (c.reads) c.readable.push(null);
  }
}
