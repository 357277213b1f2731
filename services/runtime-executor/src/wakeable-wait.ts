/**
 * A wait a producer can cut short: resolves after ms, or as soon as wake() is called.
 * The log and exec sessions wait with it for output to arrive before answering a read.
 */
export class WakeableWait {
  private waker: (() => void) | undefined;

  /** Waits up to ms for wake(); one wait at a time. */
  async wait(ms: number): Promise<void> {
    await new Promise<void>((resolve) => {
      const timer = setTimeout(done, ms);
      function done() {
        clearTimeout(timer);
        resolve();
      }
      this.waker = done;
    });
    this.waker = undefined;
  }

  /** Ends the wait in progress, if any. */
  wake(): void {
    this.waker?.();
  }
}
