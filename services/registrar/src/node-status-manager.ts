import { SpanKind, trace } from '@opentelemetry/api';
import type { V1Node, V1Taint } from '@kubernetes/client-node';
import { inject, injectable } from 'tsyringe';
import { describeApiError as describe, isAlreadyExists } from '@splitlet/kube';
import { TOKENS, type Clock, type Runnable } from '@splitlet/service';
import { ATTR, type Logger } from '@splitlet/telemetry';
import { jittered, retryWithBackoff } from './backoff';
import type { NodeInputsSource } from './inputs';
import type { NodeApi } from './kube-api';
import { KUBELET_LABEL_KEYS } from './node-labels';
import { buildNodeStatus, changedFields, nodeStatusEvents, PressureTracker, type NodeEventSink, type StatusSettings } from './node-status';
import { REG } from './tokens';

export interface RegistrarTiming {
  /** nodeStatusUpdateFrequency: how often the status is computed (10 s). */
  updateFrequencyMs: number;
  /** nodeStatusReportFrequency: the longest time between two writes of an unchanged status (5 min). */
  reportFrequencyMs: number;
  leaseDurationSeconds: number;
}

export interface NodeIdentity {
  /** Default labels and configured ones, as set on a new Node. */
  labels: Record<string, string>;
  taints: V1Taint[];
}

/** The default labels the kubelet reconciles on an existing Node (updateDefaultLabels). */
const RECONCILED_LABELS = [...KUBELET_LABEL_KEYS, 'node.kubernetes.io/windows-build'];
const CMAD_ANNOTATION = 'volumes.kubernetes.io/controller-managed-attach-detach';
/** nodeStatusUpdateRetry */
const UPDATE_RETRIES = 5;
/** The kubelet polls every 100 ms after start-up until Ready; each poll here asks two services over NATS. */
const FAST_UPDATE_MS = 500;
/** nodeReadyGracePeriod */
const NODE_READY_GRACE_MS = 120_000;
const isReady = (node: Pick<V1Node, 'status'> | undefined) => node?.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false;
const tracer = trace.getTracer('registrar');

/** The newer of two copies of one object by resourceVersion (etcd's revisions are numbers); the first when not comparable. */
export function newer<T extends { metadata?: { resourceVersion?: string } }>(a: T | undefined, b: T | undefined): T | undefined {
  if (!a || !b) return a ?? b;
  const [x, y] = [Number(a.metadata?.resourceVersion), Number(b.metadata?.resourceVersion)];
  return Number.isFinite(x) && Number.isFinite(y) && y > x ? b : a;
}

/**
 * Registers the Node and keeps its status current, as the kubelet's
 * kubelet_node_status.go: create (or reconcile) once, then every update period
 * compute the status and patch it when it changed or the report period passed.
 */
@injectable()
export class NodeStatusManager implements Runnable {
  private node: V1Node | undefined;
  private lastReportMs = Number.NEGATIVE_INFINITY;
  private readonly pressure: PressureTracker;
  /** The kubelet's lastNodeUnschedulable: false until a status sees otherwise. */
  private lastUnschedulable = false;
  /** Ends the wait for the next update early (syncSoon). */
  private wake = new AbortController();
  /** Counts of API writes, for the record. */
  readonly writes = { nodeCreate: 0, nodeStatusPatch: 0 };

  constructor(
    @inject(REG.NodeApi) private readonly api: NodeApi,
    @inject(REG.Inputs) private readonly inputs: NodeInputsSource,
    @inject(REG.StatusSettings) private readonly settings: StatusSettings,
    @inject(REG.Timing) private readonly timing: RegistrarTiming,
    @inject(REG.Identity) private readonly identity: NodeIdentity,
    @inject(TOKENS.Clock) private readonly clock: Clock,
    @inject(TOKENS.Logger) private readonly logger: Logger,
    @inject(REG.NodeEvents) private readonly events: NodeEventSink,
  ) {
    this.pressure = new PressureTracker(settings.pressureTransitionPeriodMs);
  }

  /** recordNodeStatusEvent: "Node <name> status is now: <event>", for each transition written. */
  private recordTransitions(prev: V1Node['status'], next: V1Node['status']): void {
    for (const event of nodeStatusEvents(prev, next ?? {})) this.events('Normal', event, `Node ${this.settings.nodeName} status is now: ${event}`);
  }

  /** recordNodeSchedulableEvent: a change of spec.unschedulable (cordon, uncordon) since the last status. */
  private recordSchedulable(node: V1Node): void {
    const unschedulable = node.spec?.unschedulable === true;
    if (unschedulable === this.lastUnschedulable) return;
    this.lastUnschedulable = unschedulable;
    const event = unschedulable ? 'NodeNotSchedulable' : 'NodeSchedulable';
    this.events('Normal', event, `Node ${this.settings.nodeName} status is now: ${event}`);
  }

  async run(signal: AbortSignal): Promise<void> {
    // BirthCry: the kubelet's first event, on every start.
    this.events('Normal', 'Starting', 'Starting kubelet.');
    this.api.watchNode(signal);
    const registered = await retryWithBackoff(() => this.register(), {
      initialMs: 100,
      maxMs: 7000,
      clock: this.clock,
      signal,
      onError: (err, retryInMs) => this.logger.warn({ err: describe(err), retryInMs }, 'unable to register node with API server'),
    });
    if (!registered) return;
    await this.fastUpdateUntilReady(signal);
    while (!signal.aborted) {
      // A wake that comes during the sync below ends the next wait at once (it is not lost).
      const wake = this.wake;
      await this.clock.sleep(jittered(this.timing.updateFrequencyMs), AbortSignal.any([signal, wake.signal])).catch(() => undefined);
      if (wake.signal.aborted) this.wake = new AbortController();
      if (signal.aborted) break;
      await this.sync({ signal }).catch((err: unknown) => this.logger.error({ err: describe(err) }, 'unable to update node status'));
    }
  }

  /**
   * Right after start-up, look again every FAST_UPDATE_MS until the node turns
   * Ready, and write the status the moment it does (the kubelet's
   * fastStatusUpdateOnce), for at most NODE_READY_GRACE_MS.
   */
  private async fastUpdateUntilReady(signal: AbortSignal): Promise<void> {
    const start = this.clock.now();
    while (!signal.aborted && !isReady(this.node) && this.clock.now() - start < NODE_READY_GRACE_MS) {
      await this.clock.sleep(FAST_UPDATE_MS, signal).catch(() => undefined);
      if (signal.aborted) return;
      await this.sync({ onlyWhenReady: true, signal }).catch((err: unknown) => this.logger.warn({ err: describe(err) }, 'fast node status update failed'));
    }
  }

  /** Computes the status now instead of at the next update (the shutdown manager's syncNodeStatus when the node begins shutting down). */
  syncSoon(): void {
    this.wake.abort();
  }

  /** The Node as last written or read. */
  get current(): V1Node | undefined {
    return this.node;
  }

  /** Creates the Node, or reconciles an existing one; true once registered. */
  register(): Promise<true> {
    return tracer.startActiveSpan('registrar register node', { attributes: { [ATTR.nodeName]: this.settings.nodeName } }, async (span) => {
      try {
        return await this.tryRegister();
      } finally {
        span.end();
      }
    });
  }

  private async tryRegister(): Promise<true> {
    const name = this.settings.nodeName;
    const inputs = await this.inputs.gather();
    const status = buildNodeStatus(undefined, inputs, this.settings, this.pressure, this.clock.now());
    const initial: V1Node = {
      apiVersion: 'v1',
      kind: 'Node',
      metadata: { name, labels: this.identity.labels, annotations: { [CMAD_ANNOTATION]: 'true' } },
      spec: this.identity.taints.length ? { taints: this.identity.taints } : {},
      status,
    };
    try {
      this.node = await this.api.createNode(initial);
      this.writes.nodeCreate++;
      this.recordTransitions(undefined, status);
      this.lastReportMs = this.clock.now();
      this.logger.info({ node: name }, 'node registered');
      return true;
    } catch (err) {
      if (!isAlreadyExists(err)) throw err;
    }
    const existing = await this.api.readNode(name);
    const labels: Record<string, string | null> = {};
    for (const key of RECONCILED_LABELS) {
      const want = this.identity.labels[key];
      if (want !== undefined && existing.metadata?.labels?.[key] !== want) labels[key] = want === '' ? null : want;
    }
    const annotationOk = existing.metadata?.annotations?.[CMAD_ANNOTATION] === 'true';
    this.node = existing;
    if (Object.keys(labels).length || !annotationOk) {
      this.node = await this.api.patchNodeStatus(name, {
        metadata: { ...(Object.keys(labels).length ? { labels } : {}), ...(annotationOk ? {} : { annotations: { [CMAD_ANNOTATION]: 'true' } }) },
      });
      this.writes.nodeStatusPatch++;
    }
    this.logger.info({ node: name, reconciledLabels: Object.keys(labels) }, 'node already registered; reconciled');
    // Taints are never touched on an existing Node, as the kubelet does.
    await this.sync();
    return true;
  }

  /**
   * One status update (tryUpdateNodeStatus with retries); onlyWhenReady: write only a
   * Ready status. An aborted signal (the term of registrar's leadership ended) stops
   * the retries: a replica that no longer leads writes nothing more.
   */
  sync(opts: { onlyWhenReady?: boolean; signal?: AbortSignal } = {}): Promise<void> {
    return tracer.startActiveSpan('registrar update node status', { kind: SpanKind.INTERNAL, attributes: { [ATTR.nodeName]: this.settings.nodeName } }, async (span) => {
      try {
        const inputs = await this.inputs.gather();
        let lastErr: unknown;
        for (let attempt = 0; attempt < UPDATE_RETRIES; attempt++) {
          if (opts.signal?.aborted) return;
          try {
            // First from what is known — the newer of the last written and the watched
            // Node, so another writer's change (the node lifecycle controller's Ready
            // Unknown after an outage) is seen and overwritten — then from the API server.
            const known = attempt === 0 ? newer(this.node, this.api.watchedNode(this.settings.nodeName)) : undefined;
            const original = known ?? (await this.api.readNode(this.settings.nodeName));
            this.recordSchedulable(original);
            const status = buildNodeStatus(original.status, inputs, this.settings, this.pressure, this.clock.now());
            const labels = this.missingRequiredLabels(original);
            const fields = changedFields(original.status, status);
            const changed = fields.length > 0 || Object.keys(labels).length > 0;
            span.setAttribute('splitlet.node_status.changed', changed);
            const due = this.clock.now() - this.lastReportMs >= this.timing.reportFrequencyMs;
            if ((!changed && !due) || (opts.onlyWhenReady && !isReady({ status }))) {
              this.node = original;
              return;
            }
            this.logger.debug({ changed: fields, labels: Object.keys(labels) }, changed ? 'node status changed' : 'node status unchanged; reporting');
            this.node = await this.api.patchNodeStatus(this.settings.nodeName, { ...(Object.keys(labels).length ? { metadata: { labels } } : {}), status });
            this.writes.nodeStatusPatch++;
            this.lastReportMs = this.clock.now();
            this.recordTransitions(original.status, status);
            this.logReadyChange(original, this.node);
            return;
          } catch (err) {
            lastErr = err;
            this.logger.warn({ err: describe(err), attempt }, 'error updating node status, will retry');
          }
        }
        throw new Error(`update node status exceeds retry count: ${describe(lastErr)}`);
      } finally {
        span.end();
      }
    });
  }

  /** kubernetes.io/os and /arch are re-asserted on every update. */
  private missingRequiredLabels(node: V1Node): Record<string, string> {
    const out: Record<string, string> = {};
    for (const key of ['kubernetes.io/os', 'kubernetes.io/arch']) {
      const want = this.identity.labels[key];
      if (want && node.metadata?.labels?.[key] !== want) out[key] = want;
    }
    return out;
  }

  private logReadyChange(before: V1Node, after: V1Node): void {
    const ready = (n: V1Node) => n.status?.conditions?.find((c) => c.type === 'Ready');
    const was = ready(before);
    const now = ready(after);
    if (now && now.status !== was?.status) {
      this.logger.info({ status: now.status, reason: now.reason, message: now.message }, `node is ${now.status === 'True' ? 'Ready' : 'NotReady'}`);
    }
  }
}
