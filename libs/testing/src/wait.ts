/**
 * Polls fn until it returns something other than undefined (errors count as "not
 * yet"), and returns that; fails after timeoutMs naming what it waited for and the
 * last error.
 */
export async function waitFor<T>(what: string, fn: () => Promise<T | undefined>, timeoutMs = 15_000, intervalMs = 250): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const v = await fn();
      if (v !== undefined) return v;
    } catch (err) {
      last = err;
    }
    await new Promise((r) => setTimeout(r, intervalMs));
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? `: ${String(last)}` : ''}`);
}
