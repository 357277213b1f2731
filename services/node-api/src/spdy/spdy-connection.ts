import { EventEmitter } from 'node:events';
import { Readable, type Duplex } from 'node:stream';
import { constants as zc, createDeflate, createInflate, type Deflate, type Inflate } from 'node:zlib';
import spdyDictionaries from 'spdy-transport/lib/spdy-transport/protocol/spdy/dictionary.js';

// The server side of a SPDY/3.1 session as Kubernetes speaks it (moby/spdystream under
// k8s.io/apimachinery's httpstream/spdy): the peer opens streams (SYN_STREAM) named only
// by headers such as `streamType` and `port`, the server replies (SYN_REPLY) and data
// flows both ways until each side sends FIN (a half-close) or RST_STREAM.
//
// Written here, not taken from spdy-transport's Connection, for two reasons found in its
// code (3.0.0): its parser rejects a SYN_STREAM without `:method` and `:path` ("Missing
// `:method` and/or `:path` header"), which no Kubernetes stream carries; and it enforces
// SPDY's flow-control windows, waiting for WINDOW_UPDATE frames that spdystream never
// sends (spdystream ignores windows and relies on TCP), so any stream would stall after
// 64 KiB. What is reused is spdy-transport's SPDY/3 header-compression dictionary (its
// public `protocol.spdy.dictionary`): the zlib dictionary every SPDY/3 peer must share.
// It is imported from its own module: the package's index loads every protocol and
// its scheduler, ~9 ms of node-api's start (issue 17).

const VERSION = 3;
const TYPE = { SYN_STREAM: 1, SYN_REPLY: 2, RST_STREAM: 3, SETTINGS: 4, PING: 6, GOAWAY: 7, HEADERS: 8, WINDOW_UPDATE: 9 } as const;
const FLAG_FIN = 0x01;
/** RST_STREAM status codes used here. */
export const RST = { PROTOCOL_ERROR: 1, INVALID_STREAM: 2, REFUSED_STREAM: 3, CANCEL: 5 } as const;
/** Largest DATA payload written in one frame (the format allows 16 MiB; smaller frames interleave streams). */
const MAX_DATA_FRAME = 64 * 1024;
/** Largest decompressed header block accepted from a peer. */
const MAX_HEADER_BLOCK = 64 * 1024;
/** Most streams a peer may open on one connection (exec needs 5, port-forward 2 per port). */
const MAX_STREAMS = 256;

const DICTIONARY: Buffer = (spdyDictionaries as Record<number, Buffer>)[3]!;

/** One stream the peer opened. */
export class SpdyStream {
  /** The peer's bytes on this stream; ends at the peer's FIN, errors at its RST_STREAM. */
  readonly readable: Readable;
  private finSent = false;

  constructor(
    private readonly conn: SpdyServerConnection,
    readonly id: number,
    /** The SYN_STREAM's headers, names lower-case, several values joined by ",". */
    readonly headers: Record<string, string>,
  ) {
    this.readable = new Readable({ read: () => conn.resumeReading() });
    this.readable.once('end', () => this.released());
    this.readable.once('close', () => this.released());
    // A reset is normal at a session's end (the client's Close resets every stream); a reader
    // that iterates the stream still sees the error, a stream nobody reads must not crash the process.
    this.readable.on('error', () => undefined);
  }

  /** Writes bytes to the peer; false when the socket's buffer is full (await `conn.drained()`). */
  write(data: Uint8Array): boolean {
    if (this.finSent) return true;
    return this.conn.writeData(this.id, data, false);
  }

  /** Half-closes the stream (FIN): the peer reads end of file. Idempotent. */
  end(): void {
    if (this.finSent) return;
    this.finSent = true;
    this.conn.writeData(this.id, new Uint8Array(0), true);
    this.released();
  }

  /** Aborts the stream (RST_STREAM CANCEL). */
  reset(): void {
    this.finSent = true;
    this.conn.writeRst(this.id, RST.CANCEL);
    this.readable.destroy();
    this.conn.forget(this.id);
  }

  // Both directions done: the connection forgets the stream, so a long port-forward's
  // many connections do not use up MAX_STREAMS.
  private released(): void {
    if (this.finSent && (this.readable.readableEnded || this.readable.destroyed)) this.conn.forget(this.id);
  }

  /** @internal */
  receive(data: Buffer, fin: boolean): void {
    if (data.length && !this.readable.push(data)) this.conn.pauseReading();
    if (fin) this.readable.push(null);
  }
}

/**
 * A SPDY/3.1 server session on an upgraded socket. Emits 'stream' (SpdyStream) for each
 * stream the peer opens — answer it with `reply(stream)` — and 'close' once the socket
 * closed. Incoming data is back-pressured by pausing the socket while a stream's reader
 * lags; outgoing by `write`'s return value and `drained()`.
 */
export class SpdyServerConnection extends EventEmitter<{ stream: [SpdyStream]; close: [] }> {
  private buffer: Buffer = Buffer.alloc(0);
  private readonly streams = new Map<number, SpdyStream>();
  private readonly inflate: Inflate = createInflate({ dictionary: DICTIONARY });
  private readonly deflate: Deflate = createDeflate({ dictionary: DICTIONARY });
  // Header blocks share one zlib context per direction: frames are handled strictly in
  // order, and replies compressed and written strictly in order.
  private queue: Promise<void> = Promise.resolve();
  private replies: Promise<void> = Promise.resolve();
  private lastStreamId = 0;
  private closed = false;
  private paused = false;

  constructor(private readonly socket: Duplex, head: Buffer) {
    super();
    // One 'close' listener per stream in flight (a port-forward's connections each hold
    // one until they end): many at once is the normal case, not a leak.
    this.setMaxListeners(0);
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('error', () => this.teardown());
    socket.on('close', () => this.teardown());
    socket.on('end', () => this.teardown());
    if (head.length) this.onData(head);
  }

  /**
   * Accepts a stream (SYN_REPLY with no headers, as spdystream's SendReply(http.Header{})).
   * Replies are compressed and written one at a time, in call order: every header block
   * goes through one deflate context that the peer inflates in wire order, so two
   * compressed at once would mix their output and the peer would drop the connection.
   */
  reply(stream: SpdyStream): Promise<void> {
    const done = this.replies.then(async () => {
      const block = await this.compress(Buffer.alloc(4)); // zero name/value pairs
      const body = Buffer.alloc(4);
      body.writeUInt32BE(stream.id);
      this.writeControl(TYPE.SYN_REPLY, 0, Buffer.concat([body, block]));
    });
    this.replies = done.catch(() => undefined);
    return done;
  }

  /** Resolves when the socket's write buffer drained (or the socket closed). */
  drained(): Promise<void> {
    if (this.closed || !this.socket.writableNeedDrain) return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => {
        this.socket.off('drain', done);
        this.off('close', done);
        resolve();
      };
      this.socket.on('drain', done);
      this.on('close', done);
    });
  }

  /** Ends the session: GOAWAY, then the socket is ended once what was written is flushed. */
  close(): void {
    if (this.closed) return;
    const body = Buffer.alloc(8);
    body.writeUInt32BE(this.lastStreamId);
    this.writeControl(TYPE.GOAWAY, 0, body);
    this.socket.end();
    // A peer that never closes its side does not keep the socket.
    setTimeout(() => this.socket.destroy(), 5_000).unref();
  }

  /** Drops the connection at once. */
  destroy(): void {
    this.socket.destroy();
    this.teardown();
  }

  get isClosed(): boolean {
    return this.closed;
  }

  /** @internal */
  writeData(id: number, data: Uint8Array, fin: boolean): boolean {
    if (this.closed) return true;
    let ok = true;
    let offset = 0;
    do {
      const part = data.subarray(offset, offset + MAX_DATA_FRAME);
      offset += part.length;
      const last = offset >= data.length;
      const head = Buffer.alloc(8);
      head.writeUInt32BE(id & 0x7fffffff);
      head.writeUInt32BE(((fin && last ? FLAG_FIN : 0) << 24) | part.length, 4);
      ok = this.socket.write(Buffer.concat([head, part]));
    } while (offset < data.length);
    return ok;
  }

  /** @internal */
  forget(id: number): void {
    this.streams.delete(id);
  }

  /** How many streams are open (for tests). */
  get openStreams(): number {
    return this.streams.size;
  }

  /** @internal */
  writeRst(id: number, status: number): void {
    const body = Buffer.alloc(8);
    body.writeUInt32BE(id & 0x7fffffff);
    body.writeUInt32BE(status, 4);
    this.writeControl(TYPE.RST_STREAM, 0, body);
  }

  /** @internal */
  pauseReading(): void {
    if (!this.paused) {
      this.paused = true;
      this.socket.pause();
    }
  }

  /** @internal */
  resumeReading(): void {
    if (this.paused) {
      this.paused = false;
      this.socket.resume();
    }
  }

  private writeControl(type: number, flags: number, body: Buffer): void {
    if (this.closed) return;
    const head = Buffer.alloc(8);
    head.writeUInt16BE(0x8000 | VERSION);
    head.writeUInt16BE(type, 2);
    head.writeUInt32BE((flags << 24) | body.length, 4);
    this.socket.write(Buffer.concat([head, body]));
  }

  private onData(chunk: Buffer): void {
    this.buffer = this.buffer.length ? Buffer.concat([this.buffer, chunk]) : chunk;
    while (this.buffer.length >= 8) {
      const length = this.buffer.readUIntBE(5, 3);
      if (this.buffer.length < 8 + length) break;
      const frame = this.buffer.subarray(0, 8 + length);
      this.buffer = this.buffer.subarray(8 + length);
      this.queue = this.queue.then(() => this.onFrame(frame)).catch(() => this.destroy());
    }
  }

  private async onFrame(frame: Buffer): Promise<void> {
    if (this.closed) return;
    const flags = frame[4]!;
    const body = frame.subarray(8);
    if (!(frame[0]! & 0x80)) {
      const stream = this.streams.get(frame.readUInt32BE(0) & 0x7fffffff);
      stream?.receive(Buffer.from(body), (flags & FLAG_FIN) !== 0);
      return;
    }
    const version = frame.readUInt16BE(0) & 0x7fff;
    if (version !== VERSION) throw new Error(`SPDY version ${version} is not spoken here`);
    switch (frame.readUInt16BE(2)) {
      case TYPE.SYN_STREAM: {
        const id = body.readUInt32BE(0) & 0x7fffffff;
        const headers = parseHeaderBlock(await this.decompress(body.subarray(10)));
        // Client streams have odd ids that only grow (SPDY/3 §2.3.2).
        if (id % 2 === 0 || id <= this.lastStreamId || this.streams.size >= MAX_STREAMS) return this.writeRst(id, RST.PROTOCOL_ERROR);
        this.lastStreamId = id;
        const stream = new SpdyStream(this, id, headers);
        this.streams.set(id, stream);
        if (flags & FLAG_FIN) stream.readable.push(null);
        this.emit('stream', stream);
        return;
      }
      case TYPE.SYN_REPLY:
      case TYPE.HEADERS:
        // Not expected from a client, but its header block moves the shared zlib context.
        await this.decompress(body.subarray(4));
        return;
      case TYPE.RST_STREAM: {
        const id = body.readUInt32BE(0) & 0x7fffffff;
        const stream = this.streams.get(id);
        this.streams.delete(id);
        stream?.readable.destroy(new Error(`stream ${id} reset by the peer (status ${body.readUInt32BE(4)})`));
        return;
      }
      case TYPE.PING:
        // Echo the peer's pings (odd ids); ours would be even and we send none.
        if (body.readUInt32BE(0) % 2 === 1) this.writeControl(TYPE.PING, 0, Buffer.from(body));
        return;
      case TYPE.GOAWAY:
        this.socket.end();
        return;
      default:
        // SETTINGS, WINDOW_UPDATE and the rest: spdystream relies on TCP for flow control, so do we.
        return;
    }
  }

  private decompress(block: Buffer): Promise<Buffer> {
    return zlibStep(this.inflate, block, MAX_HEADER_BLOCK);
  }

  private compress(block: Buffer): Promise<Buffer> {
    return zlibStep(this.deflate, block, Infinity);
  }

  private teardown(): void {
    if (this.closed) return;
    this.closed = true;
    for (const s of this.streams.values()) if (!s.readable.readableEnded) s.readable.destroy();
    this.streams.clear();
    this.inflate.close();
    this.deflate.close();
    this.emit('close');
  }
}

// Feeds one header block through a shared zlib stream and collects what it gives up to a
// sync flush (the ws library's permessage-deflate does the same).
function zlibStep(z: Inflate | Deflate, input: Buffer, limit: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const out: Buffer[] = [];
    let size = 0;
    const onData = (c: Buffer) => {
      size += c.length;
      // A small block may inflate to gigabytes: stop at the limit, not after.
      if (size > limit) {
        z.off('data', onData);
        z.pause();
        reject(new Error('SPDY header block too large'));
        return;
      }
      out.push(c);
    };
    const onError = (err: Error) => {
      z.off('data', onData);
      reject(err);
    };
    z.on('data', onData);
    z.once('error', onError);
    z.write(input);
    z.flush(zc.Z_SYNC_FLUSH, () => {
      z.off('data', onData);
      z.off('error', onError);
      if (size > limit) reject(new Error('SPDY header block too large'));
      else resolve(Buffer.concat(out));
    });
  });
}

/** A SPDY/3 name/value header block: a count, then (length, name, length, value) pairs, all lengths uint32. */
export function parseHeaderBlock(block: Buffer): Record<string, string> {
  const headers: Record<string, string> = {};
  let at = 0;
  const next = (): string => {
    if (at + 4 > block.length) throw new Error('truncated SPDY header block');
    const n = block.readUInt32BE(at);
    at += 4;
    if (at + n > block.length) throw new Error('truncated SPDY header block');
    const s = block.toString('utf8', at, at + n);
    at += n;
    return s;
  };
  if (block.length < 4) throw new Error('truncated SPDY header block');
  const count = block.readUInt32BE(0);
  at = 4;
  for (let i = 0; i < count; i++) {
    const name = next().toLowerCase();
    headers[name] = next().split('\0').join(',');
  }
  return headers;
}

/** The inverse of parseHeaderBlock (for tests and clients). */
export function headerBlock(headers: Record<string, string>): Buffer {
  const parts: Buffer[] = [];
  const count = Buffer.alloc(4);
  count.writeUInt32BE(Object.keys(headers).length);
  parts.push(count);
  for (const [k, v] of Object.entries(headers)) {
    for (const s of [k.toLowerCase(), v]) {
      const b = Buffer.from(s);
      const n = Buffer.alloc(4);
      n.writeUInt32BE(b.length);
      parts.push(n, b);
    }
  }
  return Buffer.concat(parts);
}
