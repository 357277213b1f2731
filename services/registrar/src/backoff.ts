import type { Clock } from '@splitlet/service';

/**
 * Calls fn until it succeeds, sleeping between tries: initial, doubling, capped
 * at max (the kubelet's registration: 100 ms .. 7 s; its lease: 200 ms .. 7 s).
 * Resolves undefined if the signal aborts first.
 */
export async function retryWithBackoff<T>(
  fn: () => Promise<T>,
  opts: { initialMs: number; maxMs: number; clock: Clock; signal: AbortSignal; onError: (err: unknown, retryInMs: number) => void },
): Promise<T | undefined> {
  for (let delay = opts.initialMs; !opts.signal.aborted; delay = Math.min(delay * 2, opts.maxMs)) {
    try {
      return await fn();
    } catch (err) {
      opts.onError(err, delay);
      await opts.clock.sleep(delay, opts.signal).catch(() => undefined);
    }
  }
  return undefined;
}

/** The period plus up to 4% jitter, as the kubelet's wait.JitterUntil(period, 0.04). */
export const jittered = (periodMs: number, random = Math.random): number => periodMs + Math.floor(random() * 0.04 * periodMs);
