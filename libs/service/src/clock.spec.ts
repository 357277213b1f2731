import { describe, expect, it } from 'vitest';
import { systemClock } from './clock';

describe('service systemClock', () => {
  it('systemClock.sleep - resolves after the delay', async () => {
    const start = performance.now();
    await systemClock.sleep(30);
    expect(performance.now() - start).toBeGreaterThanOrEqual(25);
  });

  it('systemClock.sleep - rejects with the reason as soon as the signal aborts', async () => {
    const abort = new AbortController();
    const sleeping = systemClock.sleep(60_000, abort.signal);
    abort.abort(new Error('stop'));
    await expect(sleeping).rejects.toThrow('stop');
  });

  it('systemClock.sleep - a delay past setTimeout\'s longest does not resolve at once (it fired after 1 ms)', async () => {
    const abort = new AbortController();
    let woke = false;
    const sleeping = systemClock.sleep(2 ** 31 * 1000, abort.signal).then(() => (woke = true));
    await new Promise((r) => setTimeout(r, 50));
    expect(woke).toBe(false);
    abort.abort(new Error('stop'));
    await sleeping.catch(() => undefined);
  });
});
