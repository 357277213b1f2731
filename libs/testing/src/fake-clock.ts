/**
 * A clock for tests: time moves only when the test advances it, and sleepers wake
 * in order of their deadlines. Matches the Clock interface of @splitlet/service.
 */
export class FakeClock {
  private current: number;
  private sleepers: { at: number; resolve: () => void }[] = [];

  constructor(start = Date.UTC(2026, 0, 1)) {
    this.current = start;
  }

  now(): number {
    return this.current;
  }

  sleep(ms: number, signal?: AbortSignal): Promise<void> {
    return new Promise((resolve, reject) => {
      if (signal?.aborted) return reject(signal.reason as Error);
      const sleeper = { at: this.current + ms, resolve };
      this.sleepers.push(sleeper);
      signal?.addEventListener('abort', () => {
        this.sleepers = this.sleepers.filter((s) => s !== sleeper);
        reject(signal.reason as Error);
      });
    });
  }

  /** Moves time forward by ms, waking every sleeper due by then (and their follow-ups). */
  async advance(ms: number): Promise<void> {
    const target = this.current + ms;
    for (;;) {
      this.sleepers.sort((a, b) => a.at - b.at);
      const next = this.sleepers[0];
      if (!next || next.at > target) break;
      this.sleepers.shift();
      this.current = next.at;
      next.resolve();
      // let the woken code run (and maybe sleep again) before the next one
      await this.settle();
    }
    this.current = target;
    await this.settle();
  }

  /** Lets pending callbacks and promise chains run (several event-loop turns), without moving time. */
  async settle(turns = 20): Promise<void> {
    for (let i = 0; i < turns; i++) await new Promise((r) => setImmediate(r));
  }

  /**
   * Moves time forward a step at a time until cond holds, with realMs of real time
   * after each step for real I/O (a NATS server's answers) to come in. Returns how
   * much fake time that took; throws when maxMs of fake time pass first.
   */
  async advanceUntil(what: string, cond: () => boolean, { stepMs = 250, maxMs = 30_000, realMs = 15 } = {}): Promise<number> {
    const from = this.current;
    for (let t = 0; t <= maxMs; t += stepMs) {
      if (cond()) return this.current - from;
      await this.advance(stepMs);
      await new Promise((r) => setTimeout(r, realMs));
    }
    throw new Error(`${what}: not within ${maxMs} ms of fake time`);
  }

  /** How many sleepers are waiting (to assert a loop is parked). */
  get pending(): number {
    return this.sleepers.length;
  }
}
