import type { Duplex } from 'node:stream';
import { WakeableWait } from '../wakeable-wait';

/** How much output one exec holds at most before it stops reading Docker (its flow-control window). */
export const EXEC_WINDOW_BYTES = 512 * 1024;

export interface ExecOutput {
  stdout: Buffer;
  stderr: Buffer;
  /** The process exited and everything it wrote was handed out. */
  exited: boolean;
  exitCode: number;
  error: string;
}

/**
 * One running exec's attached streams (Docker's hijacked connection): demultiplexes
 * its output (8-byte-framed stdout/stderr, or a terminal's raw bytes) into a window
 * of at most EXEC_WINDOW_BYTES (Docker's stream is paused above it, so TCP
 * back-pressure reaches the process), hands it out one read at a time, and writes
 * stdin. `exitCode` is asked once the output ended (Docker's exec inspect).
 */
export class ExecSession {
  private readonly chunks: { fd: 1 | 2; data: Buffer }[] = [];
  private bytes = 0;
  private pending: Buffer = Buffer.alloc(0);
  private ended = false;
  private error = '';
  private code: number | undefined;
  private readonly arrival = new WakeableWait();

  constructor(
    private readonly stream: Duplex,
    private readonly opts: {
      tty: boolean;
      exitCode: () => Promise<number>;
      /**
       * Whether the client's end of stdin ends the process's stdin (an exec; an attach to a
       * container with stdinOnce). Otherwise it ends nothing: Docker's attach would close
       * the attach's stdout and stderr with it, losing what the container writes after.
       */
      stdinEndCloses?: boolean;
    },
  ) {
    stream.on('data', (chunk: Buffer) => {
      this.add(chunk);
      if (this.bytes >= EXEC_WINDOW_BYTES) stream.pause();
    });
    stream.on('end', () => void this.finish());
    stream.on('close', () => void this.finish());
    stream.on('error', (err: NodeJS.ErrnoException) => {
      // Writing stdin to a process that exited (or a port whose peer closed) breaks the
      // pipe: that is the end of stdin, not a failure; the exit status tells how it ended.
      if (err.code !== 'EPIPE' && err.code !== 'ECONNRESET') this.error ||= err.message;
      void this.finish();
    });
  }

  /**
   * The next output, at most maxBytes of both streams; when none is buffered yet,
   * waits up to waitMs for some. Must not be called again before it resolves.
   */
  async read(maxBytes: number, waitMs: number): Promise<ExecOutput> {
    if (!this.bytes && !this.done && waitMs > 0) await this.arrival.wait(waitMs);
    const out = this.take(Math.max(1, maxBytes));
    if (this.bytes < EXEC_WINDOW_BYTES / 2 && !this.ended) this.stream.resume();
    const exited = this.done && !this.bytes;
    return { ...out, exited: exited && !this.error, exitCode: exited ? (this.code ?? -1) : 0, error: exited ? this.error : '' };
  }

  /** Writes to the process's stdin; resolves once Docker's connection took the bytes. */
  writeStdin(data: Uint8Array): Promise<void> {
    if (this.stream.writableEnded) return Promise.reject(new Error('stdin is closed'));
    // The process is gone: what it did not read is dropped, as a pipe to an exited reader's would be.
    if (this.ended || this.stream.readableEnded) return Promise.resolve();
    return new Promise((resolve) => this.stream.write(data, () => resolve()));
  }

  /**
   * No more stdin: half-closes Docker's connection, so the process reads end of file (as
   * `docker exec -i` does) — where that is what it means (stdinEndCloses); else the
   * container's stdin stays open and its output goes on, as containerd's attach.
   */
  closeStdin(): void {
    if (this.opts.stdinEndCloses === false) return;
    if (!this.stream.writableEnded) this.stream.end();
  }

  /** Stops reading Docker and frees the buffer: the process's streams close. Idempotent. */
  close(): void {
    this.chunks.length = 0;
    this.bytes = 0;
    this.ended = true;
    this.stream.destroy();
    this.arrival.wake();
  }

  // Ended and the exit code known (or failed): nothing more will come.
  private get done(): boolean {
    return this.ended && (this.code !== undefined || this.error !== '');
  }

  private add(chunk: Buffer): void {
    if (this.opts.tty) return this.push(1, chunk);
    this.pending = this.pending.length ? Buffer.concat([this.pending, chunk]) : chunk;
    // Docker's framing: [stream (1 stdout, 2 stderr), 0, 0, 0, size (uint32 BE)] then the payload.
    while (this.pending.length >= 8) {
      const size = this.pending.readUInt32BE(4);
      if (this.pending.length < 8 + size) break;
      const fd = this.pending[0] === 2 ? 2 : 1;
      this.push(fd, this.pending.subarray(8, 8 + size));
      this.pending = this.pending.subarray(8 + size);
    }
  }

  private push(fd: 1 | 2, data: Buffer): void {
    if (!data.length) return;
    this.chunks.push({ fd, data });
    this.bytes += data.length;
    this.arrival.wake();
  }

  private take(max: number): { stdout: Buffer; stderr: Buffer } {
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    let size = 0;
    while (this.chunks.length && size < max) {
      const head = this.chunks[0]!;
      const part = head.data.length > max - size ? head.data.subarray(0, max - size) : head.data;
      if (part === head.data) this.chunks.shift();
      else head.data = head.data.subarray(part.length);
      (head.fd === 1 ? out : err).push(part);
      size += part.length;
    }
    this.bytes -= size;
    return { stdout: Buffer.concat(out), stderr: Buffer.concat(err) };
  }

  private async finish(): Promise<void> {
    if (this.ended) return;
    this.ended = true;
    try {
      this.code = await this.opts.exitCode();
    } catch (err) {
      this.error ||= (err as Error).message;
    }
    this.arrival.wake();
  }
}
