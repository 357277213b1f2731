import type { Duplex } from 'node:stream';
import { constants as zc, createDeflate } from 'node:zlib';
import spdyTransport from 'spdy-transport';
import { headerBlock } from '../spdy/spdy-connection';

const DICTIONARY: Buffer = (spdyTransport as { protocol: { spdy: { dictionary: Record<number, Buffer> } } }).protocol.spdy.dictionary[3]!;

export interface Frame {
  control: boolean;
  type: number;
  id: number;
  fin: boolean;
  data: Buffer;
}

/** The client side of SPDY/3 as spdystream frames it, for tests: opens streams, sends data, reads frames. */
export class SpdyTestClient {
  readonly frames: Frame[] = [];
  private buffer = Buffer.alloc(0);
  private readonly deflate = createDeflate({ dictionary: DICTIONARY });
  private waiters: (() => void)[] = [];
  ended = false;

  constructor(private readonly socket: Duplex) {
    socket.on('data', (c: Buffer) => this.onData(c));
    socket.on('close', () => {
      this.ended = true;
      this.wake();
    });
  }

  async open(id: number, headers: Record<string, string>, fin = false): Promise<void> {
    const block = await new Promise<Buffer>((resolve) => {
      const out: Buffer[] = [];
      const onData = (c: Buffer) => out.push(c);
      this.deflate.on('data', onData);
      this.deflate.write(headerBlock(headers));
      this.deflate.flush(zc.Z_SYNC_FLUSH, () => {
        this.deflate.off('data', onData);
        resolve(Buffer.concat(out));
      });
    });
    const body = Buffer.alloc(10);
    body.writeUInt32BE(id);
    this.control(1, fin ? 1 : 0, Buffer.concat([body, block]));
  }

  send(id: number, data: Buffer | string, fin = false): void {
    const payload = Buffer.from(data);
    const head = Buffer.alloc(8);
    head.writeUInt32BE(id);
    head.writeUInt32BE(((fin ? 1 : 0) << 24) | payload.length, 4);
    this.socket.write(Buffer.concat([head, payload]));
  }

  ping(id: number): void {
    const body = Buffer.alloc(4);
    body.writeUInt32BE(id);
    this.control(6, 0, body);
  }

  reset(id: number): void {
    const body = Buffer.alloc(8);
    body.writeUInt32BE(id);
    body.writeUInt32BE(5, 4);
    this.control(3, 0, body);
  }

  /** Everything received on a stream so far. */
  received(id: number): string {
    return Buffer.concat(this.frames.filter((f) => !f.control && f.id === id).map((f) => f.data)).toString();
  }

  finished(id: number): boolean {
    return this.frames.some((f) => !f.control && f.id === id && f.fin);
  }

  async until<T>(what: string, check: () => T | undefined, timeoutMs = 5_000): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const v = check();
      if (v !== undefined && v !== false) return v;
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; frames: ${JSON.stringify(this.frames.map((f) => ({ ...f, data: f.data.toString() })))}`);
      await new Promise<void>((r) => {
        const t = setTimeout(r, 50);
        this.waiters.push(() => {
          clearTimeout(t);
          r();
        });
      });
    }
  }

  private control(type: number, flags: number, body: Buffer): void {
    const head = Buffer.alloc(8);
    head.writeUInt16BE(0x8003);
    head.writeUInt16BE(type, 2);
    head.writeUInt32BE((flags << 24) | body.length, 4);
    this.socket.write(Buffer.concat([head, body]));
  }

  private onData(chunk: Buffer): void {
    this.buffer = Buffer.concat([this.buffer, chunk]);
    while (this.buffer.length >= 8) {
      const length = this.buffer.readUIntBE(5, 3);
      if (this.buffer.length < 8 + length) break;
      const f = this.buffer.subarray(0, 8 + length);
      this.buffer = this.buffer.subarray(8 + length);
      const control = (f[0]! & 0x80) !== 0;
      const body = Buffer.from(f.subarray(8));
      this.frames.push({
        control,
        type: control ? f.readUInt16BE(2) : 0,
        id: control ? (body.length >= 4 ? body.readUInt32BE(0) & 0x7fffffff : 0) : f.readUInt32BE(0) & 0x7fffffff,
        fin: (f[4]! & 1) === 1,
        data: body,
      });
    }
    this.wake();
  }

  private wake(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }
}
