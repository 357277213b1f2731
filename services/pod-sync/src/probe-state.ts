import type { V1Container } from '@kubernetes/client-node';
import { equals } from '@bufbuild/protobuf';
import type { KV } from '@nats-io/kv';
import type { NatsConnection } from '@nats-io/transport-node';
import { kvEntries, kvPut, openBucket, podsViewBucket, probeResultKey, probeResultsBucket, watchBucket, type ProbeKindName } from '@splitlet/bus';
import { PodProbeViewSchema, ProbeKind, ProbeResultSchema, ProbeResultValue, type PodProbeView, type ProbeResult } from '@splitlet/contracts';
import type { Logger } from '@splitlet/telemetry';

/**
 * pod-sync's side of probing: it publishes what the prober needs of each pod (the pods
 * view bucket) and follows the prober's settled results (the results bucket), so that
 * a sync can ask "has this container instance failed its liveness probe?" and "is it
 * ready?". A changed result is a reason to sync the pod at once (onResult).
 */
export class ProbeState {
  private views?: KV;
  private results?: KV;
  private readonly published = new Map<string, PodProbeView>();
  private readonly settled = new Map<string, ProbeResult>();

  constructor(
    private readonly nc: NatsConnection,
    private readonly nodeName: string,
    private readonly logger: Logger,
  ) {}

  /** Opens the buckets, loads what is there and follows the results until signal aborts. */
  async start(onResult: (podUid: string, statusOnly: boolean) => void, signal: AbortSignal): Promise<void> {
    this.views = await openBucket(this.nc, podsViewBucket(this.nodeName));
    this.results = await openBucket(this.nc, probeResultsBucket(this.nodeName));
    for (const [k, v] of await kvEntries(this.views, PodProbeViewSchema)) this.published.set(k, v);
    for (const [k, v] of await kvEntries(this.results, ProbeResultSchema)) this.settled.set(k, v);
    // The watch delivers the current values again, then each change; a sync more is harmless.
    void watchBucket(
      this.results,
      ProbeResultSchema,
      (key, value) => {
        if (value) this.settled.set(key, value);
        else this.settled.delete(key);
        const uid = value?.podUid ?? key.split('.')[0] ?? '';
        // A readiness result, or a liveness success, changes only the status; a startup
        // success may let the next containers start (a sidecar's), so it is a full sync.
        const statusOnly = value !== undefined && (value.kind === ProbeKind.READINESS || (value.kind === ProbeKind.LIVENESS && value.result === ProbeResultValue.SUCCESS));
        if (uid) onResult(uid, statusOnly);
      },
      { logger: this.logger, signal },
    ).catch((err: unknown) => this.logger.warn({ err: (err as Error).message }, 'probe results watch ended'));
  }

  /**
   * The settled result of one probe for one container instance: undefined when the
   * prober has said nothing about that instance yet.
   */
  result(podUid: string, container: string, kind: ProbeKindName, containerId: string): ProbeResultValue | undefined {
    const r = this.settled.get(probeResultKey(podUid, container, kind));
    return r && r.containerId === containerId ? r.result : undefined;
  }

  /**
   * `started` and `ready` of a running container instance, as the kubelet's prober
   * manager sets them (UpdatePodStatus): started once its startup probe succeeded (at
   * once without one); ready, once started, when its readiness probe succeeded (at once
   * without one).
   */
  readiness(podUid: string, c: V1Container, containerId: string): { started: boolean; ready: boolean } {
    const started = !c.startupProbe || this.result(podUid, c.name, 'startup', containerId) === ProbeResultValue.SUCCESS;
    const ready = started && (!c.readinessProbe || this.result(podUid, c.name, 'readiness', containerId) === ProbeResultValue.SUCCESS);
    return { started, ready };
  }

  /** Which probe, if any, says the running instance must be killed: liveness or startup failed. */
  failedProbe(podUid: string, c: V1Container, containerId: string): 'liveness' | 'startup' | undefined {
    if (c.startupProbe && this.result(podUid, c.name, 'startup', containerId) === ProbeResultValue.FAILURE) return 'startup';
    if (c.livenessProbe && this.result(podUid, c.name, 'liveness', containerId) === ProbeResultValue.FAILURE) return 'liveness';
    return undefined;
  }

  /** Puts the pod's view for the prober when it changed (version aside); deletes it when nothing is probed. */
  async publish(podUid: string, view: PodProbeView | undefined): Promise<void> {
    if (!this.views) return;
    const last = this.published.get(podUid);
    if (!view) {
      if (last) await this.remove(podUid);
      return;
    }
    if (last && equals(PodProbeViewSchema, last, { ...view, version: last.version })) return;
    await kvPut(this.views, podUid, PodProbeViewSchema, view);
    this.published.set(podUid, view);
  }

  /**
   * Removes every view in the bucket whose key is not a pod `known()` names: pod-sync
   * is the bucket's one writer, so any other entry was put by someone else (issue 14:
   * a forged view made the prober act), or is left from a pod pod-sync no longer has.
   * The keys are read first and `known` asked after, so a pod added meanwhile, whose
   * view can only have been put once the pod was known, is never taken for a stray.
   * Answers the keys removed.
   */
  async removeUnknown(known: () => ReadonlySet<string>): Promise<string[]> {
    if (!this.views) return [];
    const keys: string[] = [];
    for await (const k of await this.views.keys()) keys.push(k);
    const pods = known();
    const strays = keys.filter((k) => !pods.has(k));
    for (const k of strays) await this.remove(k);
    return strays;
  }

  /** The pod is gone: the prober stops probing it. */
  async remove(podUid: string): Promise<void> {
    if (!this.views) return;
    this.published.delete(podUid);
    await this.views.delete(podUid).catch((err: unknown) => this.logger.warn({ podUid, err: (err as Error).message }, 'could not delete the pod from the pods view'));
  }
}
