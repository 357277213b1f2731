import WebSocket from 'ws';

/** One channel message as the client read it, decoded for the protocol. */
export interface ChannelMessage {
  channel: number;
  data: Buffer;
  /** A binary message (channel.k8s.io and its v4), else text (the base64 variants). */
  binary: boolean;
}

/** The client side of Kubernetes' channel protocols over a WebSocket, for tests. */
export class ChannelTestClient {
  readonly messages: ChannelMessage[] = [];
  closeCode: number | undefined;
  private waiters: (() => void)[] = [];

  constructor(
    readonly ws: WebSocket,
    /** Whether messages are base64 text (base64.channel.k8s.io, v4.base64.channel.k8s.io). */
    readonly base64: boolean,
  ) {
    ws.on('message', (data: Buffer, isBinary: boolean) => {
      if (!data.length) return;
      this.messages.push(
        base64 ? { channel: data[0]! - 48, data: Buffer.from(data.subarray(1).toString(), 'base64'), binary: isBinary } : { channel: data[0]!, data: data.subarray(1), binary: isBinary },
      );
      this.wake();
    });
    ws.on('close', (code: number) => {
      this.closeCode = code;
      this.wake();
    });
  }

  send(channel: number, data: Buffer | string): void {
    const bytes = Buffer.from(data);
    if (this.base64) this.ws.send(String.fromCharCode(48 + channel) + bytes.toString('base64'));
    else this.ws.send(Buffer.concat([Buffer.of(channel), bytes]));
  }

  /** Everything read on a channel, concatenated. */
  received(channel: number): string {
    return Buffer.concat(this.messages.filter((m) => m.channel === channel).map((m) => m.data)).toString();
  }

  get closed(): boolean {
    return this.closeCode !== undefined;
  }

  async until<T>(what: string, check: () => T | undefined, ms = 5_000): Promise<T> {
    const deadline = Date.now() + ms;
    for (;;) {
      const v = check();
      if (v !== undefined) return v;
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
      await new Promise<void>((r) => {
        const timer = setTimeout(r, 50);
        this.waiters.push(() => {
          clearTimeout(timer);
          r();
        });
      });
    }
  }

  private wake(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }
}

export type Dialed = { status: 101; protocol: string; client: ChannelTestClient } | { status: number; body: string };

/** Dials a WebSocket with the given subprotocols (none: no header); the 101's protocol and a client, or the refusal. */
export function dialChannels(url: string, protocols: string[], options: WebSocket.ClientOptions): Promise<Dialed> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, protocols, { perMessageDeflate: false, ...options });
    ws.once('open', () => resolve({ status: 101, protocol: ws.protocol, client: new ChannelTestClient(ws, ws.protocol.includes('base64')) }));
    ws.once('unexpected-response', (_req, res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      res.on('error', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    ws.once('error', (err) => reject(err));
  });
}
