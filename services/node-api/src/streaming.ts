import type { Readable } from 'node:stream';

// What exec, attach and port-forward need of a streaming transport, whichever the client
// upgraded to: SPDY streams (src/spdy) or WebSocket channels (src/wsstream). The
// sessions on runtime-executor are driven the same way behind either.

/** What the session writes to the client (stdout, stderr, the error stream, port data). */
export interface OutputStream {
  /** False when the connection's buffer is full: await the connection's `drained()`. */
  write(data: Uint8Array): boolean;
  /** The server is done writing (SPDY: FIN; a WebSocket channel has no half-close: nothing is sent). Idempotent. */
  end(): void;
}

/** What the client writes (stdin, resizes, port data); ends when the client finished it or went away. */
export interface InputStream {
  readonly readable: Readable;
}

/** The upgraded connection the streams share. */
export interface StreamConnection {
  readonly isClosed: boolean;
  /** 'close': the client went away or the connection was closed. */
  once(event: 'close', listener: () => void): unknown;
  off(event: 'close', listener: () => void): unknown;
  /** Resolves once what was written left the process (or the connection closed). */
  drained(): Promise<void>;
  /** Ends the connection once what was written is flushed. */
  close(): void;
}
