import type { V1Pod } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { PodWorkers } from './pod-workers';

const pod = (uid: string, generation: number): V1Pod => ({ metadata: { uid, name: uid, generation } });

describe('pod-sync PodWorkers', () => {
  it('PodWorkers - one sync at a time per pod; updates during a sync collapse to the latest', async () => {
    const seen: string[] = [];
    let release!: () => void;
    let active = 0;
    let maxActive = 0;
    const workers = new PodWorkers(async (p) => {
      active++;
      maxActive = Math.max(maxActive, active);
      seen.push(`${p.metadata?.uid}@${p.metadata?.generation}`);
      if (p.metadata?.generation === 1) await new Promise<void>((r) => (release = r));
      active--;
    });
    workers.update(pod('a', 1));
    workers.update(pod('a', 2));
    workers.update(pod('a', 3));
    workers.update(pod('a', 4));
    release();
    await expect.poll(() => workers.idle).toBe(true);
    expect(seen).toEqual(['a@1', 'a@4']);
    expect(maxActive).toBe(1);
  });

  it('PodWorkers - a status-only sync stays one only while every pending trigger asked for the status only', async () => {
    const seen: string[] = [];
    let release!: () => void;
    const workers = new PodWorkers(async (p, statusOnly) => {
      seen.push(`${p.metadata?.generation}:${statusOnly ? 'status' : 'full'}`);
      if (p.metadata?.generation === 1) await new Promise<void>((r) => (release = r));
    });
    workers.update(pod('a', 1));
    workers.update(pod('a', 2), { statusOnly: true });
    workers.update(pod('a', 3), { statusOnly: true });
    release();
    await expect.poll(() => workers.idle).toBe(true);
    workers.update(pod('a', 1));
    workers.update(pod('a', 4), { statusOnly: true });
    workers.update(pod('a', 5));
    workers.update(pod('a', 6), { statusOnly: true });
    release();
    await expect.poll(() => workers.idle).toBe(true);
    expect(seen).toEqual(['1:full', '3:status', '1:full', '6:full']);
  });

  it('PodWorkers - different pods sync side by side; a finished pod can be forgotten', async () => {
    const gates = new Map<string, () => void>();
    let active = 0;
    let maxActive = 0;
    const workers = new PodWorkers(async (p) => {
      active++;
      maxActive = Math.max(maxActive, active);
      await new Promise<void>((r) => gates.set(p.metadata!.uid!, r));
      active--;
    });
    workers.update(pod('a', 1));
    workers.update(pod('b', 1));
    await expect.poll(() => gates.size).toBe(2);
    expect(maxActive).toBe(2);
    for (const g of gates.values()) g();
    await expect.poll(() => workers.idle).toBe(true);
    workers.forget('a');
    expect(workers.size).toBe(1);
  });
});
