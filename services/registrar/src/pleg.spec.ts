import { describe, expect, it } from 'vitest';
import { FakeClock } from '@splitlet/testing';
import { PLEG_RELIST_THRESHOLD_MS, PlegHealth, relistPeriodMs } from './pleg';

/** A runtime whose lists answer at once, or hang until told, as the test sets it. */
function fakeRuntime() {
  const hung: (() => void)[] = [];
  let hang = false;
  return {
    list: () => (hang ? new Promise<void>((resolve) => hung.push(resolve)) : Promise.resolve()),
    hang: (on: boolean) => (hang = on),
    /** Lists the runtime holds unanswered. */
    held: () => hung.length,
    release: () => hung.splice(0).forEach((r) => r()),
  };
}

describe('registrar PLEG health', () => {
  it('PlegHealth - not healthy until a relist succeeds; a failed one does not count', async () => {
    const clock = new FakeClock();
    let fail = true;
    const pleg = new PlegHealth(() => (fail ? Promise.reject(new Error('no responders')) : Promise.resolve()), () => clock.now());
    expect(pleg.unhealthy()).toBe('pleg has yet to be successful');
    await pleg.relist();
    expect(pleg.unhealthy()).toBe('pleg has yet to be successful');
    fail = false;
    await pleg.relist();
    expect(pleg.unhealthy()).toBeUndefined();
  });

  it('PlegHealth - a relist that hangs: healthy for 3 minutes from the last good relist\'s start, then "pleg was last seen active … ago; threshold is 3m0s"; one relist at a time', async () => {
    const clock = new FakeClock();
    const runtime = fakeRuntime();
    const t0 = clock.now();
    const pleg = new PlegHealth(runtime.list, () => clock.now());
    await pleg.relist();
    await clock.advance(10_000);
    runtime.hang(true);
    // Every status update starts a relist; while one hangs, no other is sent.
    for (let i = 0; i < 18; i++) {
      void pleg.relist();
      await clock.advance(10_000);
    }
    expect(runtime.held()).toBe(1);
    // 190 s since the last good relist started.
    expect(clock.now() - t0).toBe(190_000);
    expect(pleg.unhealthy()).toBe('pleg was last seen active 3m10s ago; threshold is 3m0s');
    // The runtime answers again: the held relist ends and counts from its start (10 s: 3 minutes ago, not past the threshold).
    runtime.hang(false);
    runtime.release();
    await pleg.relist();
    expect(pleg.unhealthy()).toBeUndefined();
    await clock.advance(1);
    await pleg.relist();
    expect(pleg.unhealthy()).toBeUndefined();
  });

  it('PlegHealth - a good relist is not repeated for 30 s (a sixth of the threshold), whatever asks: 100 pods\' inspects every 10 s cost runtime-executor 2 % of a core', async () => {
    const clock = new FakeClock();
    let relists = 0;
    const pleg = new PlegHealth(() => Promise.resolve(relists++), () => clock.now());
    for (let i = 0; i < 12; i++) {
      await pleg.relist();
      await clock.advance(10_000);
    }
    // 120 s of updates every 10 s: relists at 0, 30, 60 and 90 s.
    expect(relists).toBe(4);
    expect(pleg.unhealthy()).toBeUndefined();
    expect(relistPeriodMs(20_000)).toBe(3_333);
  });

  it('PlegHealth - the threshold is the kubelet\'s 3 minutes, or a test\'s: one past it is unhealthy, at it not', async () => {
    expect(PLEG_RELIST_THRESHOLD_MS).toBe(180_000);
    const clock = new FakeClock();
    const runtime = fakeRuntime();
    const pleg = new PlegHealth(runtime.list, () => clock.now(), 20_000);
    await pleg.relist();
    runtime.hang(true);
    void pleg.relist();
    await clock.advance(20_000);
    expect(pleg.unhealthy()).toBeUndefined();
    await clock.advance(1);
    expect(pleg.unhealthy()).toBe('pleg was last seen active 20.001s ago; threshold is 20s');
  });
});
