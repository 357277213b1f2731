import type { CoreV1Event, V1ContainerState, V1ContainerStatus, V1Pod } from '@kubernetes/client-node';

// What the differential test compares of a pod (issue 18): its status as a user reads
// it — phase, reason, conditions, each container's state, restarts, readiness — and
// its Events, with what must differ between two nodes (names, IDs, addresses, times,
// the runtime's name) replaced by placeholders.

export interface Names {
  pod: string;
  node: string;
}

/** A flat map: field path → value, so two snapshots diff field by field. */
export type Snapshot = Record<string, string>;

/** The parts of a message that differ between two nodes by nature, made alike. */
export function normalizeMessage(text: string, names: Names): string {
  return text
    .replaceAll(names.pod, '<pod>')
    .replaceAll(names.node, '<node>')
    .replace(/\b(docker|containerd):\/\/[0-9a-f]{64}\b/g, '<container-id>')
    .replace(/\b[0-9a-f]{64}\b/g, '<id>')
    .replace(/sha256:[0-9a-f]{64}/g, '<digest>')
    .replace(/\b\d{1,3}(\.\d{1,3}){3}\b/g, '<ip>')
    .replace(/\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b/g, '<uid>')
    // Durations the kubelet reports ("in 123ms", "(1.2s including waiting)", "back-off 10s").
    .replace(/\b\d+(\.\d+)?(ns|µs|us|ms|s|m)\b/g, '<duration>')
    .replace(/\b\d+ bytes\b/g, '<n> bytes');
}

/**
 * The kubelet's wording with the runtime's own error text cut out: what follows
 * `Failed to pull image "…": ` (and `ErrImagePull: `) is what the runtime said, which
 * Docker and containerd word differently. The cut text is compared on its own, as the
 * fields `runtime.pullError (status)` and `(events)` (accepted.ts says why it may differ).
 */
export function splitRuntimeWording(text: string): { text: string; runtime?: string } {
  const m = /^(.*?(?:Failed to pull image "[^"]*": |ErrImagePull: ))(.+)$/s.exec(text);
  return m ? { text: `${m[1]}<runtime error>`, runtime: m[2] } : { text };
}

function stateOf(s: V1ContainerState | undefined, names: Names, runtime: Set<string>): string {
  if (s?.running) return 'running';
  if (s?.waiting) {
    if (!s.waiting.message) return `waiting ${s.waiting.reason ?? ''}`;
    const cut = splitRuntimeWording(normalizeMessage(s.waiting.message, names));
    if (cut.runtime) runtime.add(cut.runtime);
    return `waiting ${s.waiting.reason ?? ''}: ${cut.text}`;
  }
  if (s?.terminated) {
    const t = s.terminated;
    return `terminated ${t.reason ?? ''} exit ${t.exitCode}${t.signal ? ` signal ${t.signal}` : ''}${t.message ? `: ${normalizeMessage(t.message, names).trim()}` : ''}`;
  }
  return 'none';
}

function containers(prefix: string, list: V1ContainerStatus[] | undefined, names: Names, out: Snapshot, runtime: Set<string>): void {
  for (const c of list ?? []) {
    const p = `${prefix}[${c.name}]`;
    out[`${p}.state`] = stateOf(c.state, names, runtime);
    out[`${p}.lastState`] = stateOf(c.lastState, names, runtime);
    out[`${p}.restartCount`] = String(c.restartCount);
    out[`${p}.ready`] = String(c.ready);
    out[`${p}.started`] = String(c.started ?? '-');
  }
}

export function statusSnapshot(pod: V1Pod, names: Names): Snapshot {
  const s = pod.status ?? {};
  const out: Snapshot = {
    'status.phase': s.phase ?? '',
    'status.reason': s.reason ?? '',
    'status.message': s.message ? normalizeMessage(s.message, names) : '',
    'status.qosClass': s.qosClass ?? '',
  };
  for (const c of [...(s.conditions ?? [])].sort((a, b) => a.type.localeCompare(b.type))) {
    out[`status.conditions[${c.type}]`] = `${c.status}${c.reason ? ` ${c.reason}` : ''}`;
  }
  const runtime = new Set<string>();
  containers('status.initContainerStatuses', s.initContainerStatuses, names, out, runtime);
  containers('status.containerStatuses', s.containerStatuses, names, out, runtime);
  addRuntimeWording(out, 'runtime.pullError (status)', runtime);
  return out;
}

/** The runtime's own words, cut out of the messages (splitRuntimeWording), as one field. */
function addRuntimeWording(out: Snapshot, field: string, runtime: Set<string>): void {
  if (runtime.size) out[field] = [...runtime].sort().join(' | ');
}

/**
 * The pod's Events as a set of `type reason: message` (normalized), each with how
 * often it happened beyond once collapsed: two nodes' timing differs, what they say
 * must not.
 */
export function eventsSnapshot(events: CoreV1Event[], names: Names): Snapshot {
  const out: Snapshot = {};
  const runtime = new Set<string>();
  for (const e of events) {
    const cut = splitRuntimeWording(normalizeMessage(e.message ?? '', names));
    if (cut.runtime) runtime.add(cut.runtime);
    const what = `${e.type ?? ''} ${e.reason ?? ''}${e.involvedObject.fieldPath ? ` (${e.involvedObject.fieldPath})` : ''}: ${cut.text}`;
    out[`events[${what}]`] = 'seen';
  }
  addRuntimeWording(out, 'runtime.pullError (events)', runtime);
  return out;
}

export interface Difference {
  field: string;
  splitlet: string;
  reference: string;
}

export function diff(splitlet: Snapshot, reference: Snapshot): Difference[] {
  const keys = [...new Set([...Object.keys(splitlet), ...Object.keys(reference)])].sort();
  return keys.filter((k) => splitlet[k] !== reference[k]).map((k) => ({ field: k, splitlet: splitlet[k] ?? '(none)', reference: reference[k] ?? '(none)' }));
}
