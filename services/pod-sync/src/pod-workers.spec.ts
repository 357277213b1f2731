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

  it('PodWorkers - remove: the cleanup waits for the running sync (never beside it), the pending sync is dropped, no update syncs the pod again, and the worker is forgotten', async () => {
    const seen: string[] = [];
    const gate: { release?: () => void } = {};
    const workers = new PodWorkers(async (p) => {
      seen.push(`sync ${p.metadata?.generation}`);
      if (p.metadata?.generation === 1) await new Promise<void>((r) => (gate.release = r));
      seen.push(`synced ${p.metadata?.generation}`);
    });
    workers.update(pod('a', 1));
    workers.update(pod('a', 2)); // pending behind the running sync (a container's stop event)
    await expect.poll(() => gate.release).toBeDefined();
    const removed = workers.remove('a', async () => void seen.push('cleanup'));
    workers.update(pod('a', 3)); // too late: the pod is gone
    await new Promise((r) => setTimeout(r, 20));
    expect(seen).toEqual(['sync 1']);
    gate.release!();
    await removed;
    expect(seen).toEqual(['sync 1', 'synced 1', 'cleanup']);
    expect([workers.has('a'), workers.size]).toEqual([false, 0]);
    // A pod with no worker: the cleanup runs at once; a failing one rejects and forgets all the same.
    await workers.remove('b', async () => void seen.push('cleanup b'));
    workers.update(pod('c', 5));
    await expect.poll(() => workers.idle).toBe(true);
    await expect(workers.remove('c', async () => Promise.reject(new Error('runtime away')))).rejects.toThrow('runtime away');
    expect([seen.slice(3), workers.has('c')]).toEqual([['cleanup b', 'sync 5', 'synced 5'], false]);
  });

  it('PodWorkers - release (the pod goes to another replica): the running sync is cancelled and finishes before it resolves, the pending one is dropped, and an update of a pod not owned starts nothing', async () => {
    const seen: string[] = [];
    const gate: { release?: () => void; signal?: AbortSignal } = {};
    let owned = true;
    const workers = new PodWorkers(async (p, _statusOnly, signal) => {
      if (p.metadata?.generation === 1) gate.signal = signal;
      seen.push(`sync ${p.metadata?.uid}@${p.metadata?.generation}`);
      if (p.metadata?.generation === 1) await new Promise<void>((r) => (gate.release = r));
      seen.push(`synced ${p.metadata?.uid}@${p.metadata?.generation}`);
    });
    workers.owns = () => owned;
    workers.update(pod('a', 1));
    workers.update(pod('a', 2)); // pending behind the running sync
    await expect.poll(() => gate.release).toBeDefined();
    owned = false;
    let released = false;
    const releasing = workers.release(workers.uids()).then(() => (released = true));
    workers.update(pod('a', 3)); // another's now
    workers.update(pod('b', 1));
    await new Promise((r) => setTimeout(r, 20));
    expect(released).toBe(false);
    expect(gate.signal?.aborted).toBe(true);
    gate.release!();
    await releasing;
    expect(seen).toEqual(['sync a@1', 'synced a@1']);
    expect([workers.has('a'), workers.has('b'), workers.size]).toEqual([false, false, 0]);
    // Owned again (the shard came back): synced as a new pod.
    owned = true;
    workers.update(pod('a', 4));
    await expect.poll(() => workers.idle).toBe(true);
    expect(seen.slice(2)).toEqual(['sync a@4', 'synced a@4']);
  });

  it('PodWorkers - a pod that begins terminating cancels its running sync, and its termination runs next', async () => {
    const seen: string[] = [];
    const workers = new PodWorkers(async (p, _statusOnly, signal) => {
      const terminating = Boolean(p.metadata?.deletionTimestamp);
      seen.push(`${p.metadata?.generation}:${terminating ? 'terminate' : 'sync'}`);
      if (terminating) return;
      // A sync that would wait a long time (an image pull, a postStart hook), unless cancelled.
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, 60_000);
        signal.addEventListener('abort', () => (clearTimeout(timer), seen.push(`${p.metadata?.generation}:cancelled`), resolve()), { once: true });
      });
    });
    workers.update(pod('a', 1));
    // A change that is no termination leaves the running sync alone.
    workers.update(pod('a', 2));
    await new Promise((r) => setTimeout(r, 20));
    expect(seen).toEqual(['1:sync']);
    workers.update({ metadata: { ...pod('a', 3).metadata, deletionTimestamp: new Date() } });
    await expect.poll(() => workers.idle, { timeout: 1_000 }).toBe(true);
    expect(seen).toEqual(['1:sync', '1:cancelled', '3:terminate']);
    // A terminating pod's own sync (its termination) is not cancelled by later updates.
    const gate: { release?: () => void } = {};
    const aborted: boolean[] = [];
    const w2 = new PodWorkers(async (p, _s, signal) => {
      if (p.metadata?.generation === 1) await new Promise<void>((r) => (gate.release = r));
      aborted.push(signal.aborted);
    });
    const gone = { metadata: { ...pod('b', 1).metadata, deletionTimestamp: new Date() } };
    w2.update(gone);
    w2.update({ metadata: { ...gone.metadata, generation: 2, deletionGracePeriodSeconds: 0 } });
    await expect.poll(() => gate.release).toBeDefined();
    gate.release!();
    await expect.poll(() => w2.idle).toBe(true);
    expect(aborted).toEqual([false, false]);
  });

  it('PodWorkers - a sync that fails does not hold back the update that came during it (its termination)', async () => {
    const seen: string[] = [];
    let fail: (() => void) | undefined;
    const workers = new PodWorkers(async (p) => {
      seen.push(`${p.metadata?.generation}`);
      if (p.metadata?.generation === 1) await new Promise<void>((_, reject) => (fail = () => reject(new Error('runtime unavailable'))));
    });
    workers.update(pod('a', 1));
    await expect.poll(() => fail).toBeDefined();
    workers.update({ metadata: { ...pod('a', 2).metadata, deletionTimestamp: new Date() } });
    fail!();
    await expect.poll(() => workers.idle).toBe(true);
    expect(seen).toEqual(['1', '2']);
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

describe('pod-sync PodWorkers resync', () => {
  const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

  it('PodWorkers - each pod is synced again on its own timer with its latest copy: after resyncMs, after retryMs when the sync asked to retry, by dueInMs at the latest', async () => {
    const seen: { uid: string; gen: number; at: number }[] = [];
    const current = new Map<string, V1Pod>([['ok', pod('ok', 1)], ['fail', pod('fail', 1)], ['due', pod('due', 1)]]);
    const t0 = Date.now();
    const workers = new PodWorkers(
      async (p) => {
        seen.push({ uid: p.metadata!.uid!, gen: p.metadata!.generation!, at: Date.now() - t0 });
        if (p.metadata?.uid === 'fail') return { retry: true };
        if (p.metadata?.uid === 'due') return { dueInMs: 30 };
        return {};
      },
      { resyncMs: 400, retryMs: 60, refreshMs: 10_000, refresh: async () => undefined, latest: (p) => current.get(p.metadata!.uid!), random: () => 0 },
    );
    for (const p of current.values()) workers.update(p);
    current.set('ok', pod('ok', 2));
    await sleep(300);
    const of = (uid: string) => seen.filter((s) => s.uid === uid);
    expect(of('ok')).toEqual([expect.objectContaining({ gen: 1 })]);
    expect(of('fail').length).toBeGreaterThanOrEqual(2); // every ~60 ms
    expect(of('due').length).toBeGreaterThanOrEqual(3); // every ~30 ms
    await expect.poll(() => of('ok').map((s) => s.gen)).toEqual([1, 2]); // the informer's newer copy
    expect(of('ok')[1]!.at).toBeGreaterThanOrEqual(390);
    workers.stop();
  });

  it('PodWorkers - a status-only sync keeps the schedule the last full sync set (a retry due soon is not pushed back to the resync period)', async () => {
    const full: number[] = [];
    const t0 = Date.now();
    const workers = new PodWorkers(
      async (_p, statusOnly) => {
        if (statusOnly) return {};
        full.push(Date.now() - t0);
        return { retry: true };
      },
      { resyncMs: 10_000, retryMs: 100, refreshMs: 10_000, refresh: async () => undefined, latest: (p) => p, random: () => 0 },
    );
    workers.update(pod('a', 1));
    await sleep(30);
    workers.update(pod('a', 1), { statusOnly: true }); // a readiness result meanwhile
    await expect.poll(() => full.length, { timeout: 1000 }).toBeGreaterThanOrEqual(2);
    expect(full[1]!).toBeLessThan(400); // the retry ~100 ms after the first, not 10 s
    workers.stop();
  });

  it('PodWorkers - an update meanwhile replaces the timer; a pod gone from the informer is not synced again and is forgotten', async () => {
    let syncs = 0;
    let gone = false;
    const workers = new PodWorkers(
      async () => {
        syncs++;
        return {};
      },
      { resyncMs: 80, retryMs: 80, refreshMs: 10_000, refresh: async () => undefined, latest: (p) => (gone ? undefined : p), random: () => 0 },
    );
    workers.update(pod('a', 1));
    await sleep(50);
    workers.update(pod('a', 2)); // the timer starts over after this sync
    await sleep(60);
    expect(syncs).toBe(2);
    gone = true;
    await expect.poll(() => workers.size).toBe(0);
    expect(syncs).toBe(2);
    workers.stop();
  });

  it('PodWorkers - between syncs a pod that asked for it has its volumes refreshed every refreshMs, never during a sync; one that failed is not (its retry comes)', async () => {
    const log: string[] = [];
    let release: (() => void) | undefined;
    const workers = new PodWorkers(
      async (p) => {
        log.push(`sync ${p.metadata!.uid}`);
        if (p.metadata?.generation === 2) await new Promise<void>((r) => (release = r));
        return p.metadata?.uid === 'bad' ? { retry: true, refresh: true } : { refresh: true };
      },
      {
        resyncMs: 10_000,
        retryMs: 10_000,
        refreshMs: 40,
        refresh: async (p) => void log.push(`refresh ${p.metadata!.uid}`),
        latest: (p) => p,
        random: () => 0,
      },
    );
    workers.update(pod('a', 1));
    workers.update(pod('bad', 1));
    await expect.poll(() => log.filter((l) => l === 'refresh a').length).toBeGreaterThanOrEqual(2);
    expect(log.filter((l) => l === 'sync a')).toHaveLength(1);
    expect(log).not.toContain('refresh bad');
    workers.update(pod('a', 2)); // a long sync: no refresh meanwhile
    await sleep(150);
    const during = log.length;
    expect(log.at(-1)).toBe('sync a');
    release!();
    await expect.poll(() => log.slice(during).includes('refresh a')).toBe(true);
    workers.stop();
  });
});
