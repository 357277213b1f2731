import { addAbortListener } from 'node:events';
import type { Writable } from 'node:stream';
import type { NatsConnection } from '@nats-io/transport-node';
import { containerLogStreamSubject } from '@splitlet/bus';
import { create, fromBinary, ReadContainerLogRequestSchema, ReadContainerLogResponseSchema, toBinary } from '@splitlet/contracts';

/** Most bytes asked for per pull. */
const PULL_BYTES = 256 * 1024;
/** How long one pull may wait on the executor for new bytes (follow). */
const PULL_WAIT_MS = 5_000;
/** Beyond the wait, how long a pull's answer may take before the stream counts as lost. */
const PULL_MARGIN_MS = 5_000;

/**
 * Copies an open container log (ContainerLogService) into `out`, one pull at a time:
 * the next pull goes out only once `out` took the last chunk (its 'drain'), so a slow
 * reader holds the executor's window and nothing more. When `signal` aborts (the
 * client went away) the stream is closed on the executor at once, which stops Docker's.
 * Resolves at the log's end; rejects when the stream fails or is lost.
 */
export async function pullContainerLog(nc: NatsConnection, nodeName: string, streamId: string, out: Writable, signal: AbortSignal): Promise<void> {
  const subject = containerLogStreamSubject(nodeName, streamId);
  const close = () => {
    nc.request(subject, toBinary(ReadContainerLogRequestSchema, create(ReadContainerLogRequestSchema, { close: true })), { timeout: 1_000 }).catch(() => undefined);
  };
  const closing = addAbortListener(signal, close);
  try {
    while (!signal.aborted) {
      const reply = await nc.request(subject, toBinary(ReadContainerLogRequestSchema, create(ReadContainerLogRequestSchema, { maxBytes: PULL_BYTES, waitMs: PULL_WAIT_MS })), {
        timeout: PULL_WAIT_MS + PULL_MARGIN_MS,
      });
      const chunk = fromBinary(ReadContainerLogResponseSchema, reply.data);
      if (chunk.data.length && !out.write(chunk.data)) await drained(out, signal);
      if (chunk.error) throw new Error(`container log: ${chunk.error}`);
      if (chunk.eof) return;
    }
  } catch (err) {
    if (!signal.aborted) close();
    throw err;
  } finally {
    closing[Symbol.dispose]();
  }
}

function drained(out: Writable, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      out.off('drain', done);
      out.off('close', done);
      aborting[Symbol.dispose]();
      resolve();
    };
    out.once('drain', done);
    out.once('close', done);
    const aborting = addAbortListener(signal, done);
  });
}
