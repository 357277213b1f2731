import { describe, expect, it } from 'vitest';
import { overlappingHoldings } from './rollover';

const log = (msg: 'syncing' | 'stopped', shard: number, time: number) => ({ msg: msg === 'syncing' ? 'syncing the pods of a shard' : 'stopped syncing the pods of a shard', shard, time: new Date(time).toISOString() });

describe('rollover: the ownership log', () => {
  it('overlappingHoldings - a shard handed over after its holder let it go, or after its killed holder died, is no overlap; one taken while the other still held it is', () => {
    const let_go = { logs: [log('syncing', 0, 1000), log('stopped', 0, 2000)], endsAt: Infinity };
    const next = { logs: [log('syncing', 0, 2000), log('syncing', 1, 2500)], endsAt: Infinity };
    expect(overlappingHoldings([let_go, next])).toEqual([]);
    const killed = { logs: [log('syncing', 1, 1000)], endsAt: 2400 };
    expect(overlappingHoldings([killed, next])).toEqual([]);
    const early = { logs: [log('syncing', 1, 1000)], endsAt: 3000 };
    expect(overlappingHoldings([early, next])).toEqual([{ shard: 1, a: [1000, 3000], b: [2500, Infinity] }]);
  });
});
