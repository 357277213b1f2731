import { injectable } from 'tsyringe';

/** How many OOM-killed containers are remembered: far more than a node runs at once. */
const LIMIT = 10_000;

/**
 * The containers Docker reported an OOM kill for ("oom" events). Docker 20.10 sets a
 * container's State.OOMKilled only from an OOM that containerd reports before the
 * exit: under load the shim's OOM notice can come second, and the container then
 * says exitCode 137 and OOMKilled false for good (later Docker sets the flag from a
 * late OOM too). containerd's CRI marks the container's reason OOMKilled whenever
 * its OOM event arrives; so does this executor, from the event. Kept in memory: an
 * executor that restarts replays the last minute of Docker's events. One per process
 * (wire registers it a singleton): the event follower marks, the status reads.
 */
@injectable()
export class OomKills {
  private readonly ids = new Set<string>();

  mark(id: string): void {
    this.ids.delete(id);
    this.ids.add(id);
    if (this.ids.size > LIMIT) this.ids.delete(this.ids.values().next().value!);
  }

  has(id: string): boolean {
    return this.ids.has(id);
  }
}
