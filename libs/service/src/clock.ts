import { timerMs } from '@splitlet/bus';

/** The time source. Production uses the system clock; tests pass a fake one. */
export interface Clock {
  now(): number;
  /**
   * Resolves after ms, or rejects with the signal's reason when it aborts first. A
   * delay past setTimeout's longest (MAX_TIMER_MS, ~24.8 days) resolves after that:
   * early, never at once.
   */
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
}

export const systemClock: Clock = {
  now: () => Date.now(),
  sleep: (ms, signal) =>
    new Promise((resolve, reject) => {
      if (signal?.aborted) return reject(signal.reason as Error);
      const timer = setTimeout(() => {
        signal?.removeEventListener('abort', onAbort);
        resolve();
      }, timerMs(ms));
      const onAbort = () => {
        clearTimeout(timer);
        reject(signal?.reason as Error);
      };
      signal?.addEventListener('abort', onAbort, { once: true });
    }),
};
