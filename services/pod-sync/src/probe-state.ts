import type { V1Container } from '@kubernetes/client-node';
import { equals } from '@bufbuild/protobuf';
import type { KV } from '@nats-io/kv';
import type { NatsConnection } from '@nats-io/transport-node';
import { kvEntries, kvPut, MAX_VIEW_VERSION_AHEAD_MS, openBucket, podsViewBucket, probeKindName, probeResultKey, probeResultsBucket, watchBucket, type ProbeKindName } from '@splitlet/bus';
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
  /** What pod-sync put last for each pod (set before the put goes out, so the watch never takes it for someone else's). */
  private readonly published = new Map<string, PodProbeView>();
  /** The revision of pod-sync's latest put of each pod's view, and the put still in flight. */
  private readonly ownRevision = new Map<string, number>();
  private readonly putting = new Map<string, Promise<number>>();
  private readonly settled = new Map<string, ProbeResult>();
  /** Results not taken because they were under another probe's key. */
  misfiledResults = 0;
  /** Views of pod-sync's pods someone else put or deleted, put back. */
  viewsRestored = 0;

  constructor(
    private readonly nc: NatsConnection,
    private readonly nodeName: string,
    private readonly logger: Logger,
    private readonly now: () => number = Date.now,
  ) {}

  /** Opens the buckets, loads what is there and follows the results (and its own views) until signal aborts. */
  async start(onResult: (podUid: string, statusOnly: boolean) => void, signal: AbortSignal): Promise<void> {
    this.views = await openBucket(this.nc, podsViewBucket(this.nodeName));
    this.results = await openBucket(this.nc, probeResultsBucket(this.nodeName));
    for (const [k, v] of await kvEntries(this.views, PodProbeViewSchema)) this.published.set(k, v);
    for (const [k, v] of await kvEntries(this.results, ProbeResultSchema)) if (filedUnder(k, v)) this.settled.set(k, v);
    // The watch delivers the current values again, then each change; a sync more is harmless.
    // A value that does not decode is no result, as a restarted pod-sync reads it.
    void watchBucket(
      this.results,
      ProbeResultSchema,
      (key, value) => {
        const valid = value && filedUnder(key, value) ? value : undefined;
        if (value && !valid) this.misfiled(key);
        if (valid) this.settled.set(key, valid);
        else if (!this.settled.delete(key)) return; // nothing known before, nothing after
        const uid = key.split('.')[0] ?? '';
        // A readiness result, or a liveness success, changes only the status; a startup
        // success may let the next containers start (a sidecar's), so it is a full sync.
        const statusOnly = valid !== undefined && (valid.kind === ProbeKind.READINESS || (valid.kind === ProbeKind.LIVENESS && valid.result === ProbeResultValue.SUCCESS));
        if (uid) onResult(uid, statusOnly);
      },
      { logger: this.logger, signal, undecodable: 'absent' },
    ).catch((err: unknown) => this.logger.warn({ err: (err as Error).message }, 'probe results watch ended'));
    // pod-sync is the views bucket's one writer: a pod's view someone else put or
    // deleted is put back at once (issue 14), not left until the pod's view changes.
    void watchBucket(this.views, PodProbeViewSchema, (key, value, { revision }) => this.onViewEntry(key, value, revision), {
      logger: this.logger,
      signal,
      undecodable: 'absent',
    }).catch((err: unknown) => this.logger.warn({ err: (err as Error).message }, 'pods view watch ended'));
  }

  private misfiled(key: string): void {
    const n = ++this.misfiledResults;
    if ((n & (n - 1)) === 0) this.logger.warn({ key: key.slice(0, 128), count: n }, 'a probe result under another probe\'s key counts as none');
  }

  private async onViewEntry(key: string, value: PodProbeView | undefined, revision: number): Promise<void> {
    // Only views this process put: one found in the bucket at start may be anyone's
    // (the next sync puts the pod's own); other pods' are strays the housekeeping removes.
    if (!this.ownRevision.has(key) && !this.putting.has(key)) return;
    await this.putting.get(key)?.catch(() => undefined);
    const mine = this.published.get(key);
    if (!mine || revision <= (this.ownRevision.get(key) ?? 0)) return; // pod-sync's own put, or older than it
    const nowUs = BigInt(this.now()) * 1000n;
    const takenByProber = (v: PodProbeView) => v.version <= nowUs + BigInt(MAX_VIEW_VERSION_AHEAD_MS) * 1000n;
    if (value && equals(PodProbeViewSchema, value, { ...mine, version: value.version })) {
      // The same view (another pod-sync during a restart computes the same): nothing to
      // put back, but the next version must be newer than this one if the prober took it.
      if (value.version > mine.version && takenByProber(value)) this.published.set(key, { ...mine, version: value.version });
      return;
    }
    const n = ++this.viewsRestored;
    if ((n & (n - 1)) === 0) this.logger.warn({ pod: key.slice(0, 64), count: n }, "a pod's probe view someone else wrote was put back");
    // Newer than the other writer's too, unless its version is one the prober drops anyway.
    let version = mine.version + 1n > nowUs ? mine.version + 1n : nowUs;
    if (value && value.version >= version && takenByProber(value)) version = value.version + 1n;
    await this.put(key, { ...mine, version });
  }

  /** Puts a pod's view as pod-sync's latest; a put that fails is forgotten (the next sync puts it again). */
  private async put(podUid: string, view: PodProbeView): Promise<void> {
    this.published.set(podUid, view);
    const putting = kvPut(this.views!, podUid, PodProbeViewSchema, view);
    this.putting.set(podUid, putting);
    try {
      const revision = await putting;
      // Not for a pod removed while the put was in flight: its records are gone for good.
      if (this.published.has(podUid) && revision > (this.ownRevision.get(podUid) ?? 0)) this.ownRevision.set(podUid, revision);
    } catch (err) {
      if (this.published.get(podUid) === view) this.published.delete(podUid);
      throw err;
    } finally {
      if (this.putting.get(podUid) === putting) this.putting.delete(podUid);
    }
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
    // Versions only grow, also past one put back over another writer's.
    await this.put(podUid, last && view.version <= last.version ? { ...view, version: last.version + 1n } : view);
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

  /** The pod goes to another pod-sync replica: its view stays for the prober, and is that one's to put (and defend) from now on. */
  release(podUid: string): void {
    this.published.delete(podUid);
    this.ownRevision.delete(podUid);
  }

  /** The pod is gone: the prober stops probing it. */
  async remove(podUid: string): Promise<void> {
    if (!this.views) return;
    this.published.delete(podUid);
    this.ownRevision.delete(podUid);
    await this.views.delete(podUid).catch((err: unknown) => this.logger.warn({ podUid, err: (err as Error).message }, 'could not delete the pod from the pods view'));
  }
}

/**
 * Whether a result is the one its key names (`<pod uid>.<container>.<kind>`): the
 * prober puts each under its own, so one under another key was put by someone else
 * (issue 14: a readiness Failure under a liveness key counted as liveness, a kill).
 */
function filedUnder(key: string, r: ProbeResult): boolean {
  const kind = probeKindName(r.kind);
  return kind !== undefined && r.podUid !== '' && r.containerName !== '' && key === probeResultKey(r.podUid, r.containerName, kind);
}
