import { V1MicroTime, type V1Lease } from '@kubernetes/client-node';
import { inject, injectable } from 'tsyringe';
import { describeApiError, isConflict, isNotFound } from '@splitlet/kube';
import { TOKENS, type Clock, type Runnable } from '@splitlet/service';
import type { Logger } from '@splitlet/telemetry';
import { jittered, retryWithBackoff } from './backoff';
import type { NodeApi } from './kube-api';
import type { RegistrarTiming } from './node-status-manager';
import { REG } from './tokens';

export const LEASE_NAMESPACE = 'kube-node-lease';
/** maxUpdateRetries of component-helpers' lease controller. */
const MAX_UPDATE_RETRIES = 5;

/**
 * The node's heartbeat: Lease kube-node-lease/<node>, renewed every
 * leaseDuration/4 (10 s), as k8s.io/component-helpers/apimachinery/lease: an
 * optimistic update of the last lease; when that fails, ensure it exists (200 ms
 * doubling to 7 s between tries), then update it.
 */
@injectable()
export class NodeLeaseController implements Runnable {
  private latest: V1Lease | undefined;
  /** Counts of API writes, for the record. */
  readonly writes = { leaseCreate: 0, leaseUpdate: 0 };

  constructor(
    @inject(REG.NodeApi) private readonly api: NodeApi,
    @inject(REG.Timing) private readonly timing: RegistrarTiming,
    @inject(TOKENS.NodeName) private readonly nodeName: string,
    @inject(TOKENS.Clock) private readonly clock: Clock,
    @inject(TOKENS.Logger) private readonly logger: Logger,
  ) {}

  get renewIntervalMs(): number {
    return this.timing.leaseDurationSeconds * 250;
  }

  async run(signal: AbortSignal): Promise<void> {
    while (!signal.aborted) {
      await this.sync(signal);
      await this.clock.sleep(jittered(this.renewIntervalMs), signal).catch(() => undefined);
    }
  }

  async sync(signal: AbortSignal): Promise<void> {
    if (this.latest && (await this.retryUpdate(this.latest, signal))) return;
    if (this.latest) this.logger.warn('failed to update lease using latest lease, fallback to ensure lease');
    const ensured = await this.backoffEnsure(signal);
    if (!ensured) return;
    this.latest = ensured.lease;
    if (!ensured.created) await this.retryUpdate(ensured.lease, signal);
  }

  private backoffEnsure(signal: AbortSignal) {
    return retryWithBackoff(() => this.ensure(), {
      initialMs: 200,
      maxMs: 7000,
      clock: this.clock,
      signal,
      onError: (err, retryInMs) => this.logger.warn({ err: describeApiError(err), retryInMs }, 'failed to ensure lease exists, will retry'),
    });
  }

  private async ensure(): Promise<{ lease: V1Lease; created: boolean }> {
    try {
      return { lease: await this.api.readLease(LEASE_NAMESPACE, this.nodeName), created: false };
    } catch (err) {
      if (!isNotFound(err)) throw err;
    }
    const lease = await this.api.createLease(LEASE_NAMESPACE, await this.newLease(undefined));
    this.writes.leaseCreate++;
    return { lease, created: true };
  }

  /** Up to 5 updates; a conflict re-reads the lease first. True once one succeeded. */
  private async retryUpdate(base: V1Lease, signal: AbortSignal): Promise<boolean> {
    for (let i = 0; i < MAX_UPDATE_RETRIES && !signal.aborted; i++) {
      try {
        this.latest = await this.api.replaceLease(LEASE_NAMESPACE, this.nodeName, await this.newLease(base));
        this.writes.leaseUpdate++;
        return true;
      } catch (err) {
        this.logger.warn({ err: describeApiError(err), attempt: i }, 'failed to update lease');
        if (isConflict(err)) {
          const ensured = await this.backoffEnsure(signal);
          if (!ensured) return false;
          base = ensured.lease;
        }
      }
    }
    return false;
  }

  /** The lease to write: holder, duration and renewTime (µs) on every write; the Node as owner once known. */
  private async newLease(base: V1Lease | undefined): Promise<V1Lease> {
    const lease: V1Lease = base
      ? structuredClone(base)
      : { apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', metadata: { name: this.nodeName, namespace: LEASE_NAMESPACE }, spec: { holderIdentity: this.nodeName } };
    lease.spec = { ...lease.spec, leaseDurationSeconds: this.timing.leaseDurationSeconds, renewTime: new V1MicroTime(this.clock.now()) };
    if (!lease.metadata?.ownerReferences?.length) {
      // As the kubelet: no lease is written until its owner, the Node, can be named.
      const node = await this.api.readNode(this.nodeName).catch((err: unknown) => {
        throw new Error(`failed to get node when trying to set owner ref to the node lease: ${describeApiError(err)}`, { cause: err });
      });
      lease.metadata = { ...lease.metadata, ownerReferences: [{ apiVersion: 'v1', kind: 'Node', name: this.nodeName, uid: node.metadata?.uid ?? '' }] };
    }
    return lease;
  }
}
