import { describe, expect, it } from 'vitest';
import { rendezvousOwner } from './rendezvous';

const uids = Array.from({ length: 3000 }, (_, i) => `8d2c${i.toString(16).padStart(4, '0')}-uid`);

describe('service rendezvous', () => {
  it('rendezvous - spreads pods evenly, the same from any order of the replica list', () => {
    const counts = new Map<string, number>();
    for (const u of uids) {
      const o = rendezvousOwner(u, ['a', 'b', 'c'])!;
      expect(rendezvousOwner(u, ['c', 'a', 'b'])).toBe(o);
      counts.set(o, (counts.get(o) ?? 0) + 1);
    }
    for (const id of ['a', 'b', 'c']) expect(counts.get(id)).toBeGreaterThan(850);
    expect(rendezvousOwner('x', [])).toBeUndefined();
  });

  it('rendezvous - when a replica leaves only its pods move; when one joins it takes only pods', () => {
    for (const u of uids) {
      const before = rendezvousOwner(u, ['a', 'b', 'c']);
      const after = rendezvousOwner(u, ['a', 'c']);
      if (before !== 'b') expect(after).toBe(before);
      const joined = rendezvousOwner(u, ['a', 'b', 'c', 'd']);
      if (joined !== 'd') expect(joined).toBe(before);
    }
  });
});
