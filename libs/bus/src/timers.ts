/**
 * setTimeout's longest delay: 2^31 − 1 ms, about 24.8 days. Node fires a longer one
 * after 1 ms (a TimeoutOverflowWarning), and Kubernetes validation lets a pod ask for
 * far longer (a probe's periodSeconds or timeoutSeconds, a grace period): a probe that
 * times out at once, a probe loop that spins.
 */
export const MAX_TIMER_MS = 2 ** 31 - 1;

/**
 * A delay as a timer can take it: past MAX_TIMER_MS it is MAX_TIMER_MS (the timer
 * fires early, never at once), below 0 or NaN it is 0. Every timer armed with a
 * delay derived from a pod's spec or a message goes through this.
 */
export function timerMs(ms: number): number {
  if (Number.isNaN(ms) || ms <= 0) return 0;
  return Math.min(ms, MAX_TIMER_MS);
}
