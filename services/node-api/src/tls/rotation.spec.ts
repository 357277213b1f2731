import { describe, expect, it } from 'vitest';
import { createLogger } from '@splitlet/telemetry';
import { FakeClock } from '@splitlet/testing';
import { keepRenewed } from './rotation';
import type { ServingCert } from './serving-cert';

const YEAR = 365 * 86_400_000;
const logger = createLogger('node-api', { level: 'silent' });
const certAt = (from: number, life: number): ServingCert => ({ cert: `c${from}`, key: 'k', notBefore: from, notAfter: from + life });

describe('serving certificate rotation', () => {
  it('keepRenewed - renews a one-year certificate once, between 70 % and 90 % of its life', async () => {
    const clock = new FakeClock(0);
    const applied: number[] = [];
    let obtained = 0;
    const abort = new AbortController();
    const running = keepRenewed(
      {
        current: certAt(0, YEAR),
        obtain: async () => {
          obtained++;
          return certAt(clock.now(), YEAR);
        },
        apply: () => applied.push(clock.now()),
        clock,
        random: () => 0.5,
        logger,
      },
      abort.signal,
    );
    await clock.advance(0.79 * YEAR);
    expect(obtained).toBe(0);
    await clock.advance(0.02 * YEAR);
    expect(applied).toHaveLength(1);
    expect(applied[0]! / YEAR).toBeCloseTo(0.8, 3);
    abort.abort();
    await running;
  });

  it('keepRenewed - keeps serving the current certificate and retries every 30 s while a renewal fails', async () => {
    const clock = new FakeClock(0);
    let attempts = 0;
    const applied: string[] = [];
    const abort = new AbortController();
    const running = keepRenewed(
      {
        current: certAt(0, 100_000),
        obtain: async () => {
          attempts++;
          if (attempts < 3) throw new Error('API server away');
          return certAt(clock.now(), YEAR);
        },
        apply: (c) => applied.push(c.cert),
        clock,
        random: () => 0,
        logger,
      },
      abort.signal,
    );
    await clock.advance(70_000);
    expect(attempts).toBe(1);
    expect(applied).toEqual([]);
    await clock.advance(60_000);
    expect(attempts).toBe(3);
    expect(applied).toHaveLength(1);
    abort.abort();
    await running;
  });

  it('keepRenewed - never renews a certificate given as files', async () => {
    const clock = new FakeClock(0);
    let obtained = 0;
    await keepRenewed(
      { current: { cert: 'c', key: 'k', notBefore: 0, notAfter: Infinity }, obtain: async () => (obtained++, certAt(0, 1)), apply: () => undefined, clock, random: () => 0, logger },
      new AbortController().signal,
    );
    expect(obtained).toBe(0);
  });
});
