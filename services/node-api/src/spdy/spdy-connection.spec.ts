import { createServer, connect, type Server, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import { constants as zc, createInflate } from 'node:zlib';
import { afterEach, describe, expect, it } from 'vitest';
import spdyTransport from 'spdy-transport';
import { SpdyTestClient } from '../__fixtures__/spdy-client';
import { headerBlock, parseHeaderBlock, SpdyServerConnection, type SpdyStream } from './spdy-connection';

const SYN_REPLY = 2;
const PING = 6;
const GOAWAY = 7;
const RST_STREAM = 3;

/** A SPDY server connection on one end of a real TCP connection, the test client on the other. */
async function pair(opts: { reply?: boolean } = {}): Promise<{ server: SpdyServerConnection; client: SpdyTestClient; streams: SpdyStream[]; sockets: Socket[]; close: () => void }> {
  const sockets: Socket[] = [];
  let srv: Server;
  const accepted = new Promise<Socket>((resolve) => {
    srv = createServer((s) => resolve(s));
  });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const c = connect((srv!.address() as AddressInfo).port, '127.0.0.1');
  const s = await accepted;
  sockets.push(s, c);
  const server = new SpdyServerConnection(s, Buffer.alloc(0));
  const streams: SpdyStream[] = [];
  server.on('stream', (st) => {
    streams.push(st);
    if (opts.reply !== false) void server.reply(st);
  });
  return { server, client: new SpdyTestClient(c), streams, sockets, close: () => (sockets.forEach((x) => x.destroy()), srv.close()) };
}

let cleanup: (() => void) | undefined;
afterEach(() => cleanup?.());

describe('spdy server connection', () => {
  it('SpdyServerConnection - takes the streams a client opens by header only, replies to each, and carries data both ways with FIN', async () => {
    const p = await pair();
    cleanup = p.close;
    await p.client.open(1, { streamType: 'error' });
    await p.client.open(3, { streamType: 'stdin' });
    await p.client.until('two replies', () => p.client.frames.filter((f) => f.control && f.type === SYN_REPLY).length === 2 || undefined);
    expect(p.streams.map((s) => [s.id, s.headers['streamtype']])).toEqual([
      [1, 'error'],
      [3, 'stdin'],
    ]);
    p.client.send(3, 'hello ');
    p.client.send(3, 'world', true);
    const got: Buffer[] = [];
    for await (const c of p.streams[1]!.readable) got.push(c as Buffer);
    expect(Buffer.concat(got).toString()).toBe('hello world');
    p.streams[0]!.write(Buffer.alloc(200_000, 'x'));
    p.streams[0]!.end();
    await p.client.until('FIN on stream 1', () => p.client.finished(1) || undefined);
    expect(p.client.received(1)).toBe('x'.repeat(200_000));
  });

  it('SpdyServerConnection - forgets a stream once both sides finished it or one reset it, so streams do not run out', async () => {
    const p = await pair();
    cleanup = p.close;
    for (let i = 0; i < 300; i++) {
      const id = 2 * i + 1;
      await p.client.open(id, { streamType: 'data', requestID: String(i) }, true);
      await p.client.until(`stream ${id}`, () => p.streams.find((s) => s.id === id));
      const s = p.streams.find((x) => x.id === id)!;
      s.readable.resume();
      if (i % 2) s.end();
      else s.reset();
    }
    await p.client.until('all forgotten', () => p.server.openStreams === 0 || undefined);
    expect(p.client.frames.filter((f) => f.control && f.type === RST_STREAM && f.data.readUInt32BE(4) !== 5)).toEqual([]);
  });

  it('SpdyServerConnection - replies to many streams opened at once with header blocks the peer inflates in wire order (one shared zlib context)', async () => {
    // kubectl port-forward opens an error and a data stream per connection: ten connections
    // at once are twenty streams replied to at once. Every SYN_REPLY's header block goes
    // through one deflate context and the peer inflates them in the order they arrive:
    // two replies compressed at the same time mixed their output, the API server's
    // spdystream failed to inflate and dropped the connection (kubectl: "error creating
    // forwarding stream …: EOF", "lost connection to pod").
    const p = await pair({ reply: false });
    cleanup = p.close;
    for (let i = 0; i < 40; i++) await p.client.open(2 * i + 1, { streamType: i % 2 ? 'data' : 'error', port: '8080', requestID: String(i >> 1) });
    await p.client.until('40 streams', () => p.streams.length === 40 || undefined);
    // Replied to all at once, as streams whose handlers' awaits end together are.
    await Promise.all(p.streams.map((st) => p.server.reply(st)));
    const replies = await p.client.until('40 replies', () => {
      const r = p.client.frames.filter((f) => f.control && f.type === SYN_REPLY);
      return r.length === 40 ? r : undefined;
    });
    const dictionary = (spdyTransport as { protocol: { spdy: { dictionary: Record<number, Buffer> } } }).protocol.spdy.dictionary[3]!;
    const inflate = createInflate({ dictionary });
    const blocks: Record<string, string>[] = [];
    for (const r of replies) {
      const out: Buffer[] = [];
      const onData = (c: Buffer) => out.push(c);
      inflate.on('data', onData);
      await new Promise<void>((resolve, reject) => {
        inflate.once('error', reject); // as spdystream's framer: a block that does not inflate ends the connection
        inflate.write(r.data.subarray(4));
        inflate.flush(zc.Z_SYNC_FLUSH, () => resolve());
      });
      inflate.off('data', onData);
      blocks.push(parseHeaderBlock(Buffer.concat(out)));
    }
    expect(replies.map((r) => r.id).sort((a, b) => a - b)).toEqual(Array.from({ length: 40 }, (_, i) => 2 * i + 1));
    expect(blocks).toEqual(Array(40).fill({}));
  });

  it('SpdyServerConnection - answers pings, refuses a stream id that does not grow, and closes with GOAWAY', async () => {
    const p = await pair();
    cleanup = p.close;
    p.client.ping(7);
    await p.client.until('the ping echoed', () => p.client.frames.find((f) => f.control && f.type === PING && f.id === 7));
    await p.client.open(5, { streamType: 'stdout' });
    await p.client.open(3, { streamType: 'stderr' });
    await p.client.until('a reset of stream 3', () => p.client.frames.find((f) => f.control && f.type === RST_STREAM && f.id === 3));
    expect(p.streams.map((s) => s.id)).toEqual([5]);
    p.server.close();
    await p.client.until('GOAWAY', () => p.client.frames.find((f) => f.control && f.type === GOAWAY));
  });

  it('SpdyServerConnection - a stream the peer resets ends its reader with an error, not the process', async () => {
    const p = await pair();
    cleanup = p.close;
    await p.client.open(1, { streamType: 'stdin' });
    await p.client.open(3, { streamType: 'resize' });
    await p.client.until('the streams', () => p.streams.length === 2 || undefined);
    p.client.reset(3);
    p.client.reset(1);
    await expect(
      (async () => {
        for await (const _ of p.streams[0]!.readable) void _;
      })(),
    ).rejects.toThrow(/reset by the peer/);
  });

  it('SpdyServerConnection - a frame of another SPDY version drops the connection', async () => {
    const p = await pair();
    cleanup = p.close;
    const closed = new Promise<void>((r) => p.server.once('close', r));
    const head = Buffer.alloc(12);
    head.writeUInt16BE(0x8002);
    head.writeUInt16BE(PING, 2);
    head.writeUInt32BE(4, 4);
    p.sockets[1]!.write(head);
    await closed;
    expect(p.server.isClosed).toBe(true);
  });

  it('SpdyServerConnection - a header block that inflates past 64 KiB drops the connection', async () => {
    const p = await pair();
    cleanup = p.close;
    const closed = new Promise<void>((r) => p.server.once('close', r));
    await p.client.open(1, { streamType: 'error', filler: 'x'.repeat(1 << 20) });
    await closed;
    expect(p.streams).toEqual([]);
  });

  it('header block - parses what it writes; a truncated block is an error', () => {
    expect(parseHeaderBlock(headerBlock({ streamType: 'data', port: '8080' }))).toEqual({ streamtype: 'data', port: '8080' });
    expect(() => parseHeaderBlock(headerBlock({ a: 'b' }).subarray(0, 9))).toThrow(/truncated/);
  });
});
