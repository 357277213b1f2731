/**
 * Turns Docker's log stream (always asked for with timestamps) into the bytes the
 * kubelet's ReadLogs writes (cri-client/pkg/logs): stdout and stderr merged in the
 * order written, each line prefixed with its time in RFC3339Nano and a space only
 * when asked, and no more than limitBytes in all (the prefix counts; the last line
 * may be cut).
 */
export interface LogFormatOptions {
  /** The container has a TTY: Docker sends raw lines, not 8-byte-framed messages. */
  tty: boolean;
  timestamps: boolean;
  /** 0: no limit. */
  limitBytes: number;
  /** Only this stream (1 stdout, 2 stderr); unset: both. A TTY has only stdout. */
  only?: 1 | 2;
}

export class LogFormatter {
  private pending: Buffer = Buffer.alloc(0);
  private remain: number;
  /** The byte limit was reached: nothing more will be written. */
  done = false;

  constructor(private readonly opts: LogFormatOptions) {
    this.remain = opts.limitBytes > 0 ? opts.limitBytes : Infinity;
  }

  /** Formats what a chunk completes; holds an incomplete frame or line for the next one. */
  push(chunk: Buffer): Buffer[] {
    this.pending = this.pending.length ? Buffer.concat([this.pending, chunk]) : chunk;
    const out: Buffer[] = [];
    for (;;) {
      const message = this.opts.tty ? this.nextLine() : this.nextFrame();
      if (!message) break;
      if (this.opts.only && message.stream !== this.opts.only) continue;
      const line = this.format(message.payload);
      if (line) out.push(line);
      if (this.done) break;
    }
    return out;
  }

  /** What is left at the end of the stream (a TTY's last line without a newline). */
  flush(): Buffer[] {
    if (this.done || !this.opts.tty || !this.pending.length) return [];
    const rest = this.pending;
    this.pending = Buffer.alloc(0);
    if (this.opts.only === 2) return [];
    const line = this.format(rest);
    return line ? [line] : [];
  }

  // One framed message: [stream, 0, 0, 0, size (uint32 BE)] then the payload "<time> <log>".
  private nextFrame(): { stream: number; payload: Buffer } | undefined {
    if (this.pending.length < 8) return undefined;
    const size = this.pending.readUInt32BE(4);
    if (this.pending.length < 8 + size) return undefined;
    const stream = this.pending[0]!;
    const payload = this.pending.subarray(8, 8 + size);
    this.pending = this.pending.subarray(8 + size);
    return { stream, payload };
  }

  private nextLine(): { stream: number; payload: Buffer } | undefined {
    const nl = this.pending.indexOf(0x0a);
    if (nl < 0) return undefined;
    const payload = this.pending.subarray(0, nl + 1);
    this.pending = this.pending.subarray(nl + 1);
    return { stream: 1, payload };
  }

  private format(message: Buffer): Buffer | undefined {
    const space = message.indexOf(0x20);
    const stamp = space > 0 ? message.subarray(0, space).toString('latin1') : '';
    const log = space > 0 ? message.subarray(space + 1) : message;
    let line = this.opts.timestamps ? Buffer.concat([Buffer.from(`${rfc3339Nano(stamp)} `), log]) : log;
    if (line.length >= this.remain) {
      line = line.subarray(0, this.remain);
      this.done = true;
    }
    this.remain -= line.length;
    return line.length ? line : undefined;
  }
}

/**
 * Docker writes times with all nine fraction digits (RFC3339NanoFixed); Go's
 * RFC3339Nano, which the kubelet writes, drops trailing zeros, and the dot too.
 */
export function rfc3339Nano(dockerTime: string): string {
  return dockerTime.replace(/\.(\d*?)0*(Z|[+-]\d\d:\d\d)$/, (_m, digits: string, zone: string) => (digits ? `.${digits}${zone}` : zone));
}

/** Unix nanoseconds as Docker's `since` query value: "<seconds>.<nanoseconds>". */
export function dockerSince(unixNano: bigint): string {
  const s = unixNano / 1_000_000_000n;
  const ns = unixNano % 1_000_000_000n;
  return `${s}.${ns.toString().padStart(9, '0')}`;
}
