import { createHash } from 'node:crypto';

/**
 * Rendezvous (highest random weight) hashing: the replica whose hash with the key is
 * highest owns the key. When a replica leaves, only its keys move; when one joins, it
 * takes about 1/N of each other's. Every replica computes the same owner from the
 * same member list, without talking to the others.
 */
export function rendezvousOwner(key: string, replicas: Iterable<string>): string | undefined {
  let best: string | undefined;
  let bestScore = -1n;
  for (const r of replicas) {
    const score = createHash('sha256').update(r).update('\0').update(key).digest().readBigUInt64BE(0);
    if (score > bestScore || (score === bestScore && best !== undefined && r < best)) {
      best = r;
      bestScore = score;
    }
  }
  return best;
}
