import { describe, expect, it } from 'vitest';
import { FakeClock } from './fake-clock';

describe('testing FakeClock', () => {
  it('FakeClock - wakes sleepers in deadline order only when time is advanced past them', async () => {
    const clock = new FakeClock(1000);
    const woke: string[] = [];
    void clock.sleep(50).then(() => woke.push(`b@${clock.now()}`));
    void clock.sleep(10).then(() => woke.push(`a@${clock.now()}`));
    await clock.advance(9);
    expect(woke).toEqual([]);
    await clock.advance(100);
    expect(woke).toEqual(['a@1010', 'b@1050']);
    expect(clock.now()).toBe(1109);
  });

  it('FakeClock - an aborted sleep rejects and leaves no sleeper behind', async () => {
    const clock = new FakeClock();
    const abort = new AbortController();
    const sleeping = clock.sleep(10, abort.signal);
    abort.abort(new Error('gone'));
    await expect(sleeping).rejects.toThrow('gone');
    expect(clock.pending).toBe(0);
  });
});
