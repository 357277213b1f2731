import { describe, expect, it } from 'vitest';
import { FakeClock } from '@splitlet/testing';
import { requestAttributes } from './attributes';
import { RequestAuthorizer } from './authorizer';

const alice = { username: 'alice', uid: '', groups: ['devs'], extra: {} };
const logs = requestAttributes('GET', '/containerLogs/a/b/c', 'n')[0]!;

function setup(answer: () => boolean) {
  const clock = new FakeClock();
  let reviews = 0;
  const authz = new RequestAuthorizer(async () => {
    reviews++;
    return answer();
  }, clock);
  return { clock, authz, reviews: () => reviews };
}

describe('request authorizer', () => {
  it('RequestAuthorizer - keeps an allowed decision 5 minutes', async () => {
    const t = setup(() => true);
    expect(await t.authz.authorize(alice, logs)).toBe(true);
    await t.clock.advance(299_000);
    expect(await t.authz.authorize(alice, logs)).toBe(true);
    expect(t.reviews()).toBe(1);
    await t.clock.advance(2_000);
    await t.authz.authorize(alice, logs);
    expect(t.reviews()).toBe(2);
  });

  it('RequestAuthorizer - keeps a denied decision 30 seconds', async () => {
    let allowed = false;
    const t = setup(() => allowed);
    expect(await t.authz.authorize(alice, logs)).toBe(false);
    allowed = true;
    await t.clock.advance(29_000);
    expect(await t.authz.authorize(alice, logs)).toBe(false);
    await t.clock.advance(2_000);
    expect(await t.authz.authorize(alice, logs)).toBe(true);
    expect(t.reviews()).toBe(2);
  });

  it('RequestAuthorizer - decides per user and per attributes', async () => {
    const t = setup(() => true);
    await t.authz.authorize(alice, logs);
    await t.authz.authorize({ ...alice, groups: ['ops'] }, logs);
    await t.authz.authorize(alice, requestAttributes('GET', '/stats/summary', 'n')[0]!);
    expect(t.reviews()).toBe(3);
  });

  it('RequestAuthorizer - does not keep a failed review', async () => {
    let fail = true;
    const t = setup(() => {
      if (fail) throw new Error('API server unreachable');
      return true;
    });
    await expect(t.authz.authorize(alice, logs)).rejects.toThrow('unreachable');
    fail = false;
    expect(await t.authz.authorize(alice, logs)).toBe(true);
  });
});
