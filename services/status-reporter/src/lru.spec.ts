import { describe, expect, it } from 'vitest';
import { LruCache } from './lru';

describe('status-reporter LruCache', () => {
  it('LruCache - past its size the least recently used key goes; get and add make a key the most recent', () => {
    const c = new LruCache<number>(3);
    c.add('a', 1);
    c.add('b', 2);
    c.add('c', 3);
    expect(c.get('a')).toBe(1);
    c.add('b', 20);
    c.add('d', 4);
    expect(c.size).toBe(3);
    expect(c.get('c')).toBeUndefined();
    expect([c.get('a'), c.get('b'), c.get('d')]).toEqual([1, 20, 4]);
  });
});
