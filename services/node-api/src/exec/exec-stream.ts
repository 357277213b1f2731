import type { Readable } from 'node:stream';
import type { NatsConnection } from '@nats-io/transport-node';
import { execStreamSubject } from '@splitlet/bus';
import { create, ExecStreamOp, ExecStreamRequestSchema, ExecStreamResponseSchema, fromBinary, toBinary, type ExecStreamResponse } from '@splitlet/contracts';

/** Most output bytes asked for per read. */
const READ_BYTES = 256 * 1024;
/** How long one read may wait on the executor for output. */
const READ_WAIT_MS = 5_000;
/** Beyond the wait, how long an answer may take before the exec counts as lost. */
const MARGIN_MS = 5_000;
/** Most stdin bytes per write: what runtime-executor takes in one (its MAX_STDIN_BYTES). */
export const STDIN_CHUNK = 256 * 1024;

/**
 * A client's stdin as the writes to make: each write waits for the executor (flow
 * control), so what arrived meanwhile goes in the next one, up to STDIN_CHUNK, rather
 * than one round trip per SPDY frame (a few KiB each through the API server: 4 MiB/s
 * for a 50 MiB `kubectl exec -i` before).
 */
export async function* stdinWrites(readable: Readable): AsyncGenerator<Buffer> {
  for await (const first of readable as AsyncIterable<Buffer>) {
    const parts = [first];
    let size = first.length;
    const next = () => (size < STDIN_CHUNK ? (readable.read() as Buffer | null) : null);
    for (let more = next(); more !== null; more = next()) {
      parts.push(more);
      size += more.length;
    }
    const all = parts.length === 1 ? first : Buffer.concat(parts);
    for (let at = 0; at < all.length; at += STDIN_CHUNK) yield all.subarray(at, at + STDIN_CHUNK);
  }
}

/** An exec opened on runtime-executor (ExecStreamService), driven over its own subject. */
export class ExecStream {
  private readonly subject: string;

  constructor(
    private readonly nc: NatsConnection,
    nodeName: string,
    streamId: string,
  ) {
    this.subject = execStreamSubject(nodeName, streamId);
  }

  /** The next output; waits up to 5 s for some. Throws when the exec failed or was lost. */
  async read(): Promise<ExecStreamResponse> {
    const r = await this.op({ op: ExecStreamOp.READ, maxBytes: READ_BYTES, waitMs: READ_WAIT_MS }, READ_WAIT_MS + MARGIN_MS);
    if (r.error) throw new Error(r.error);
    return r;
  }

  /** Writes stdin; resolves once Docker took it (the next write waits for that: flow control). */
  async write(data: Uint8Array): Promise<void> {
    const r = await this.op({ op: ExecStreamOp.WRITE_STDIN, stdin: data }, MARGIN_MS * 2);
    if (r.error) throw new Error(r.error);
  }

  async closeStdin(): Promise<void> {
    await this.op({ op: ExecStreamOp.CLOSE_STDIN }, MARGIN_MS);
  }

  async resize(width: number, height: number): Promise<void> {
    await this.op({ op: ExecStreamOp.RESIZE, size: { width, height } }, MARGIN_MS);
  }

  /** The caller is gone: the executor frees the exec's streams. Never throws. */
  close(): void {
    this.op({ op: ExecStreamOp.CLOSE }, 1_000).catch(() => undefined);
  }

  private async op(req: Parameters<typeof create<typeof ExecStreamRequestSchema>>[1], timeout: number): Promise<ExecStreamResponse> {
    const reply = await this.nc.request(this.subject, toBinary(ExecStreamRequestSchema, create(ExecStreamRequestSchema, req)), { timeout });
    return fromBinary(ExecStreamResponseSchema, reply.data);
  }
}
