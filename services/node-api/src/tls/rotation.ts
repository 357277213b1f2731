import type { Clock } from '@splitlet/service';
import type { Logger } from '@splitlet/telemetry';
import { renewalAt, type ServingCert } from './serving-cert';

/** Longest single sleep: Node's timers cannot wait longer than 2^31 - 1 ms (~24.8 days) and fire at once instead. */
const MAX_SLEEP_MS = 3_600_000;
/** After a failed renewal (the current certificate still serves): the next attempt. */
export const RENEW_RETRY_MS = 30_000;

export interface RotationOptions {
  current: ServingCert;
  /** Gets a new certificate (waits for it). */
  obtain: (signal: AbortSignal) => Promise<ServingCert>;
  /** Starts serving it. */
  apply: (cert: ServingCert) => void;
  clock: Clock;
  random: () => number;
  logger: Logger;
}

/**
 * The kubelet's certificate manager's rotation: a new certificate at a random 70–90 %
 * of the current one's life, retried every 30 s while it fails. Runs until the signal
 * aborts; a certificate with no end (files given) is never renewed.
 */
export async function keepRenewed(opts: RotationOptions, signal: AbortSignal): Promise<void> {
  let cert = opts.current;
  try {
    while (!signal.aborted && Number.isFinite(cert.notAfter)) {
      const at = renewalAt(cert, opts.random);
      while (opts.clock.now() < at) await opts.clock.sleep(Math.min(MAX_SLEEP_MS, at - opts.clock.now()), signal);
      for (;;) {
        try {
          cert = await opts.obtain(signal);
          break;
        } catch (err) {
          if (signal.aborted) return;
          opts.logger.error({ err: (err as Error).message }, 'serving certificate renewal failed; retrying in 30 s');
          await opts.clock.sleep(RENEW_RETRY_MS, signal);
        }
      }
      opts.apply(cert);
      opts.logger.info({ notAfter: new Date(cert.notAfter).toISOString() }, 'serving certificate renewed');
    }
  } catch (err) {
    // Only an aborted sleep ends it early.
    if (!signal.aborted) throw err;
  }
}
