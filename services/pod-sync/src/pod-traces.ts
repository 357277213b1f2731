import type { V1Pod } from '@kubernetes/client-node';
import { context, ROOT_CONTEXT, SpanKind, trace, type SpanContext } from '@opentelemetry/api';
import { ATTR, podTraceId, startRootSpanInTrace } from '@splitlet/telemetry';

const tracer = trace.getTracer('pod-sync');
const MAX_PODS = 4096;

/**
 * One pod's life on this node is one trace (ARCHITECTURE.md, Tracing), whose id is
 * the pod's UID: the first time this process sees a pod it records a root span
 * `pod <namespace>/<name>`, and every sync of the pod (with its RPCs to the runtime
 * and its status hand-off to status-reporter) runs as a child of it. A restarted
 * pod-sync records another root in the same trace, so the trace has no broken link.
 * The roots of the last MAX_PODS pods are kept: a pod's last syncs may come after
 * the informer reports it deleted, and they belong in its trace.
 */
export class PodTraces {
  private readonly roots = new Map<string, SpanContext>();

  constructor(private readonly nodeName: string) {}

  /** Runs fn with the pod's trace as the active context. */
  run<T>(pod: V1Pod, fn: () => T): T {
    const uid = pod.metadata?.uid;
    if (!uid) return fn();
    let root = this.roots.get(uid);
    if (!root) {
      const m = pod.metadata!;
      const span = startRootSpanInTrace(tracer, `pod ${m.namespace}/${m.name}`, podTraceId(uid), {
        kind: SpanKind.INTERNAL,
        attributes: { [ATTR.podUid]: uid, [ATTR.podName]: m.name ?? '', [ATTR.namespace]: m.namespace ?? '', [ATTR.nodeName]: this.nodeName },
      });
      span.end();
      root = span.spanContext();
      // A no-op tracer (telemetry off) hands out invalid contexts: nothing to keep.
      if (!trace.isSpanContextValid(root)) return fn();
      this.roots.set(uid, root);
      if (this.roots.size > MAX_PODS) this.roots.delete(this.roots.keys().next().value!);
    }
    return context.with(trace.setSpanContext(ROOT_CONTEXT, root), fn);
  }
}
