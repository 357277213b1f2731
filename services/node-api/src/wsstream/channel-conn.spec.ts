import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dialChannels, type ChannelTestClient, type Dialed } from '../__fixtures__/ws-client';
import { isWebSocketRequest, negotiateChannelProtocol, upgradeToChannels, type ChannelConnection } from './channel-conn';

const PROTOCOLS = ['', 'channel.k8s.io', 'base64.channel.k8s.io', 'v4.channel.k8s.io', 'v4.base64.channel.k8s.io'];
const req = (headers: Record<string, string | string[]>) => {
  const lower = Object.fromEntries(Object.entries(headers).map(([k, v]) => [k.toLowerCase(), v]));
  return { headers: lower, headersDistinct: Object.fromEntries(Object.entries(lower).map(([k, v]) => [k, Array.isArray(v) ? v : [v]])) } as unknown as IncomingMessage;
};

describe('channel protocol negotiation', () => {
  it('negotiateChannelProtocol - the first the client offers that the server speaks; none offered is ""; nothing in common is undefined', () => {
    expect(negotiateChannelProtocol(req({ 'Sec-WebSocket-Protocol': 'v5.channel.k8s.io, base64.channel.k8s.io, v4.channel.k8s.io' }), PROTOCOLS)).toBe('base64.channel.k8s.io');
    expect(negotiateChannelProtocol(req({ 'Sec-WebSocket-Protocol': ['v4.channel.k8s.io', 'channel.k8s.io'] }), PROTOCOLS)).toBe('v4.channel.k8s.io');
    expect(negotiateChannelProtocol(req({}), PROTOCOLS)).toBe('');
    expect(negotiateChannelProtocol(req({ 'Sec-WebSocket-Protocol': 'v5.channel.k8s.io' }), PROTOCOLS)).toBeUndefined();
    expect(negotiateChannelProtocol(req({ 'Sec-WebSocket-Protocol': 'channel.k8s.io' }), ['', 'v4.channel.k8s.io'])).toBeUndefined();
  });

  it('isWebSocketRequest - Upgrade websocket (any case) with a Connection naming upgrade among others', () => {
    expect(isWebSocketRequest(req({ Upgrade: 'WebSocket', Connection: 'keep-alive, Upgrade' }))).toBe(true);
    expect(isWebSocketRequest(req({ Upgrade: 'websocket', Connection: 'Upgrade' }))).toBe(true);
    expect(isWebSocketRequest(req({ Upgrade: 'SPDY/3.1', Connection: 'Upgrade' }))).toBe(false);
    expect(isWebSocketRequest(req({ Upgrade: 'websocket', Connection: 'keep-alive' }))).toBe(false);
  });
});

describe('channel framing', () => {
  let server: Server;
  let port = 0;
  let last: ChannelConnection | undefined;
  const seen: Record<number, Buffer[]> = {};
  beforeAll(async () => {
    server = createServer();
    // Channels: 0 read, 1 write, 2 read and write, 3 ignored.
    server.on('upgrade', (r: IncomingMessage, socket, head: Buffer) => {
      void upgradeToChannels(r, socket, head, PROTOCOLS.filter((p) => r.url !== '/no-base64' || !p.includes('base64')), ['read', 'write', 'readwrite', 'ignore']).then((conn) => {
        last = conn;
        for (const c of conn?.channels ?? []) c.readable.on('data', (d: Buffer) => (seen[c.num] ??= []).push(d));
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    port = (server.address() as AddressInfo).port;
  });
  afterAll(() => server.close());

  const dial = (protocols: string[], path = '/') => dialChannels(`ws://127.0.0.1:${port}${path}`, protocols, {});
  const opened = (d: Dialed): { protocol: string; client: ChannelTestClient } => {
    if (d.status !== 101) throw new Error(`refused ${d.status}`);
    return d as { protocol: string; client: ChannelTestClient };
  };

  it('channel.k8s.io - binary messages, the channel number as the first byte, both ways; other channels\' input dropped', async () => {
    const { protocol, client } = opened(await dial(['channel.k8s.io']));
    expect(protocol).toBe('channel.k8s.io');
    for (const k of Object.keys(seen)) delete seen[Number(k)];
    client.send(0, 'to zero');
    client.send(1, 'to a write-only channel');
    client.send(3, 'to an ignored channel');
    client.send(9, 'to no channel');
    client.ws.send(Buffer.alloc(0));
    client.send(2, Buffer.from([0, 255, 10]));
    await client.until('channel 2 read', () => seen[2]?.length || undefined);
    expect(Buffer.concat(seen[0]!).toString()).toBe('to zero');
    expect([...Buffer.concat(seen[2]!)]).toEqual([0, 255, 10]);
    expect(Object.keys(seen).sort()).toEqual(['0', '2']);
    last!.channels[1]!.write(Buffer.from('out'));
    last!.channels[2]!.write(new Uint8Array(0));
    last!.channels[0]!.write(Buffer.from('not a write channel'));
    await client.until('two messages', () => (client.messages.length >= 2 ? true : undefined));
    expect(client.messages).toEqual([
      { channel: 1, data: Buffer.from('out'), binary: true },
      { channel: 2, data: Buffer.alloc(0), binary: true },
    ]);
    last!.close();
    await client.until('the close', () => client.closeCode);
    expect(client.closeCode).toBe(1000);
  });

  it('base64.channel.k8s.io - text messages, the channel as an ASCII digit and the bytes in base64; bad base64 dropped', async () => {
    const { protocol, client } = opened(await dial(['v5.channel.k8s.io', 'base64.channel.k8s.io', 'channel.k8s.io']));
    expect(protocol).toBe('base64.channel.k8s.io');
    for (const k of Object.keys(seen)) delete seen[Number(k)];
    client.ws.send('0Zm9vCg=='); // "foo\n", wsstream's own example
    client.ws.send('0not base64!');
    client.send(2, Buffer.from([1, 2, 3]));
    await client.until('channel 2 read', () => seen[2]?.length || undefined);
    expect(Buffer.concat(seen[0]!).toString()).toBe('foo\n');
    expect([...Buffer.concat(seen[2]!)]).toEqual([1, 2, 3]);
    last!.channels[1]!.write(Buffer.from('\n'));
    await client.until('a message', () => client.messages[0]);
    expect(client.messages[0]).toEqual({ channel: 1, data: Buffer.from('\n'), binary: false });
    client.ws.close();
  });

  it('upgradeToChannels - no protocol offered is binary channels, answered without a protocol; nothing in common is 403', async () => {
    const { protocol, client } = opened(await dial([]));
    expect(protocol).toBe('');
    last!.channels[1]!.write(Buffer.from('x'));
    await client.until('a message', () => client.messages[0]);
    expect(client.messages[0]).toMatchObject({ channel: 1, binary: true });
    client.ws.close();
    expect((await dial(['base64.channel.k8s.io'], '/no-base64')).status).toBe(403);
    expect((await dial(['v5.channel.k8s.io'])).status).toBe(403);
  });

  it('ChannelConnection - a client that goes away is a close, and the channels it wrote end', async () => {
    const { client } = opened(await dial(['channel.k8s.io']));
    const conn = last!;
    const closed = new Promise<void>((r) => conn.once('close', r));
    const ended = new Promise<void>((r) => conn.channels[0]!.readable.once('end', r).resume());
    client.ws.terminate();
    await closed;
    await ended;
    expect(conn.isClosed).toBe(true);
  });
});
