import { describe, expect, it } from 'vitest';
import { PAGE_RELEASE_DEFAULTS, PageRelease, processProbe, type PageReleaseProbe } from './page-release';

const MiB = 1048576;

/** A process whose RSS and event loop the test sets; a collection brings RSS to `freedTo`. */
function fakeProcess() {
  const p = { rss: 100 * MiB, busy: 0.01, t: 0, freedTo: 100 * MiB };
  const probe: PageReleaseProbe = {
    rss: () => p.rss,
    utilization: () => p.busy,
    collect: async () => {
      p.rss = p.freedTo;
    },
    now: () => p.t,
  };
  return { p, release: new PageRelease(PAGE_RELEASE_DEFAULTS, probe) };
}

describe('PageRelease', () => {
  it('PageRelease - gives the pages back once RSS is 32 MiB above its low and the process is quiet, not during the burst', async () => {
    const { p, release } = fakeProcess();
    expect(await release.check()).toBeUndefined(); // its low: 100 MiB
    p.rss = 131 * MiB;
    p.t += 30_000;
    expect(await release.check()).toBeUndefined(); // 31 MiB above
    p.rss = 200 * MiB;
    p.busy = 0.4; // the burst goes on
    p.t += 30_000;
    expect(await release.check()).toBeUndefined();
    p.busy = 0.02;
    p.freedTo = 110 * MiB;
    p.t += 30_000;
    expect(await release.check()).toEqual({ beforeBytes: 200 * MiB, afterBytes: 110 * MiB, tookMs: 0 });
  });

  it('PageRelease - while the pages come back after each, 10, 20, 40 then 60 min apart; once they stay away, 5 min apart again', async () => {
    const { p, release } = fakeProcess();
    await release.check();
    const released: number[] = [];
    // The working size is 180 MiB: what a collection frees comes back within a check.
    for (let minute = 0.5; minute <= 130; minute += 0.5) {
      p.t = minute * 60_000;
      p.rss = 180 * MiB;
      if (await release.check()) released.push(minute);
    }
    expect(released).toEqual([0.5, 10.5, 30.5, 70.5, 130.5].filter((m) => m <= 130));
    // The pages stay away after the next: back to 5 min.
    p.freedTo = 100 * MiB;
    p.t = 200 * 60_000;
    p.rss = 180 * MiB;
    expect(await release.check()).toBeDefined();
    p.t += 30_000;
    expect(await release.check()).toBeUndefined(); // 100 MiB now: nothing to give back
    p.rss = 180 * MiB;
    p.t = 205.5 * 60_000;
    expect(await release.check()).toBeDefined();
  });

  it("PageRelease - the process's own probe: a collection of all garbage runs in-process and the event loop's share is a fraction", async () => {
    const probe = processProbe();
    let junk: unknown[] | undefined = Array.from({ length: 200_000 }, (_, i) => ({ i, s: `x${i}` }));
    expect(junk.length).toBe(200_000);
    junk = undefined;
    await probe.collect();
    const u = probe.utilization();
    expect(u).toBeGreaterThanOrEqual(0);
    expect(u).toBeLessThanOrEqual(1);
    expect(probe.rss()).toBeGreaterThan(10 * MiB);
  });
});
