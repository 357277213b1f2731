import type { Readable } from 'node:stream';
import { LogFormatter, type LogFormatOptions } from './log-format';
import { WakeableWait } from '../wakeable-wait';

/** How much one session holds at most before it stops reading Docker (its flow-control window). */
export const LOG_WINDOW_BYTES = 512 * 1024;

export interface LogChunk {
  data: Buffer;
  eof: boolean;
  error: string;
}

/**
 * One open container log: reads Docker's stream through the kubelet's formatting
 * into a buffer of at most LOG_WINDOW_BYTES (the Docker stream is paused above it,
 * so TCP back-pressure reaches Docker), and hands the buffer out one pull at a time.
 */
export class LogSession {
  private readonly chunks: Buffer[] = [];
  private bytes = 0;
  private ended = false;
  private error = '';
  private readonly arrival = new WakeableWait();
  private readonly formatter: LogFormatter;

  constructor(
    private readonly stream: Readable,
    format: LogFormatOptions,
  ) {
    this.formatter = new LogFormatter(format);
    stream.on('data', (chunk: Buffer) => {
      this.add(this.formatter.push(chunk));
      if (this.formatter.done) this.finish();
      else if (this.bytes >= LOG_WINDOW_BYTES) stream.pause();
    });
    stream.on('end', () => {
      this.add(this.formatter.flush());
      this.finish();
    });
    stream.on('close', () => this.finish());
    stream.on('error', (err: Error) => {
      this.error ||= err.message;
      this.finish();
    });
  }

  /**
   * The next bytes, at most maxBytes; when none are buffered yet, waits up to waitMs
   * for some (the answer is then empty, not eof). Must not be called again before it
   * resolves.
   */
  async read(maxBytes: number, waitMs: number): Promise<LogChunk> {
    if (!this.bytes && !this.ended && waitMs > 0) await this.arrival.wait(waitMs);
    const data = this.take(Math.max(1, maxBytes));
    if (this.bytes < LOG_WINDOW_BYTES / 2 && !this.ended) this.stream.resume();
    return { data, eof: this.ended && !this.bytes, error: this.ended && !this.bytes ? this.error : '' };
  }

  /** Stops reading Docker and frees the buffer; idempotent. */
  close(): void {
    this.chunks.length = 0;
    this.bytes = 0;
    this.finish();
  }

  get closed(): boolean {
    return this.ended;
  }

  // One buffer per Docker chunk, not per line: a window of short lines would otherwise be
  // thousands of entries, each shifted off the front by take().
  private add(lines: Buffer[]): void {
    if (!lines.length) return;
    const joined = lines.length === 1 ? lines[0]! : Buffer.concat(lines);
    this.chunks.push(joined);
    this.bytes += joined.length;
    this.arrival.wake();
  }

  private take(max: number): Buffer {
    const parts: Buffer[] = [];
    let size = 0;
    while (this.chunks.length && size < max) {
      const head = this.chunks[0]!;
      const part = head.length > max - size ? head.subarray(0, max - size) : head;
      if (part === head) this.chunks.shift();
      else this.chunks[0] = head.subarray(part.length);
      parts.push(part);
      size += part.length;
    }
    this.bytes -= size;
    return Buffer.concat(parts);
  }

  private finish(): void {
    if (!this.ended) {
      this.ended = true;
      this.stream.destroy();
    }
    this.arrival.wake();
  }
}
