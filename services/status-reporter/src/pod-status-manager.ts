import type { NatsConnection } from '@nats-io/transport-node';
import { SpanKind, trace } from '@opentelemetry/api';
import { inject, injectable } from 'tsyringe';
import { podStatusSubject, subscribe } from '@splitlet/bus';
import { statusv1 } from '@splitlet/contracts';
import { apiStatus, describeApiError } from '@splitlet/kube';
import { TOKENS, untilAborted, type Clock, type Runnable } from '@splitlet/service';
import { ATTR, type Logger } from '@splitlet/telemetry';
import type { PodApi } from './pod-api';
import { toKubePodStatus } from '@splitlet/pod-status';
import { SR } from './tokens';

interface PodEntry {
  /** The newest update received. */
  latest?: statusv1.PodStatusUpdate;
  /** What was last written: its version and the status as sent. */
  written?: { version: bigint; json: string };
  writing: boolean;
}

const tracer = trace.getTracer('status-reporter');

/**
 * The one writer of pod status (the kubelet's status manager): per pod, the newest
 * version wins — older and repeated updates are dropped, a burst is coalesced into
 * one write of the latest — an unchanged status is not written again, the status
 * is patched (never replaced) under a UID precondition, failed writes are retried
 * with back-off, and a terminated pod's deletion is completed with grace 0.
 */
@injectable()
export class PodStatusManager implements Runnable {
  private readonly pods = new Map<string, PodEntry>();
  /** Counts of API writes, for the record. */
  readonly writes = { statusPatches: 0, deletes: 0 };

  constructor(
    @inject(SR.PodApi) private readonly api: PodApi,
    @inject(TOKENS.Nats) private readonly nc: NatsConnection,
    @inject(TOKENS.NodeName) private readonly nodeName: string,
    @inject(TOKENS.Clock) private readonly clock: Clock,
    @inject(TOKENS.Logger) private readonly logger: Logger,
  ) {}

  async run(signal: AbortSignal): Promise<void> {
    const sub = subscribe(this.nc, podStatusSubject(this.nodeName), statusv1.PodStatusUpdateSchema, async (u) => this.offer(u), { logger: this.logger });
    await untilAborted(signal);
    sub.unsubscribe();
  }

  /** Takes an update; returns once it is queued (the write happens behind). */
  offer(update: statusv1.PodStatusUpdate): void {
    if (!update.podUid || !update.name || !update.namespace || !update.status) {
      this.logger.warn({ uid: update.podUid, pod: `${update.namespace}/${update.name}` }, 'pod status update without pod identity or status dropped');
      return;
    }
    const entry = this.pods.get(update.podUid) ?? { writing: false };
    this.pods.set(update.podUid, entry);
    const newest = entry.latest?.version ?? entry.written?.version ?? -1n;
    if (update.version <= newest) return; // stale or repeated
    entry.latest = update;
    void this.drain(update.podUid, entry);
  }

  /** Whether every received update has been written (for tests and shutdown). */
  get idle(): boolean {
    return [...this.pods.values()].every((e) => !e.writing && (!e.latest || (e.written && e.written.version >= e.latest.version)));
  }

  private async drain(uid: string, entry: PodEntry): Promise<void> {
    if (entry.writing) return;
    entry.writing = true;
    try {
      for (let delay = 200; entry.latest && (!entry.written || entry.latest.version > entry.written.version); ) {
        const outcome = await this.write(entry.latest, entry);
        if (outcome === 'retry') {
          await this.clock.sleep(delay);
          delay = Math.min(delay * 2, 30_000);
        } else if (outcome === 'gone') {
          this.pods.delete(uid);
          return;
        }
      }
    } finally {
      entry.writing = false;
    }
  }

  private write(u: statusv1.PodStatusUpdate, entry: PodEntry): Promise<'ok' | 'retry' | 'gone'> {
    const attributes = { [ATTR.podUid]: u.podUid, [ATTR.podName]: u.name, [ATTR.namespace]: u.namespace, [ATTR.nodeName]: this.nodeName };
    return tracer.startActiveSpan('status-reporter write pod status', { kind: SpanKind.INTERNAL, attributes }, async (span) => {
      try {
        const status = toKubePodStatus(u.status!);
        const json = JSON.stringify(status);
        if (entry.written?.json !== json) {
          // metadata.uid in the patch is a precondition: a pod re-created under the same name is not ours.
          await this.api.patchPodStatus(u.namespace, u.name, { metadata: { uid: u.podUid }, status });
          this.writes.statusPatches++;
        }
        entry.written = { version: u.version, json };
        if (u.terminated) {
          await this.api.deletePod(u.namespace, u.name, u.podUid);
          this.writes.deletes++;
          this.logger.info({ pod: `${u.namespace}/${u.name}`, uid: u.podUid }, 'pod deleted: its containers are gone');
          return 'gone';
        }
        return 'ok';
      } catch (err) {
        const code = apiStatus(err);
        span.setAttribute('http.response.status_code', code ?? 0);
        // Gone, or replaced by another pod of the same name (UID precondition): nothing to write.
        if (code === 404 || code === 409) {
          this.logger.info({ pod: `${u.namespace}/${u.name}`, uid: u.podUid, err: describeApiError(err) }, 'pod no longer exists; status dropped');
          return 'gone';
        }
        this.logger.warn({ pod: `${u.namespace}/${u.name}`, err: describeApiError(err) }, 'failed to write pod status; will retry');
        return code === 403 || code === 422 ? 'gone' : 'retry';
      } finally {
        span.end();
      }
    });
  }
}
