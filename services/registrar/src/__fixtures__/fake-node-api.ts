import { ApiException, type V1Lease, type V1Node } from '@kubernetes/client-node';
import type { NodeApi } from '../kube-api';

const apiError = (code: number, message: string) => new ApiException(code, message, JSON.stringify({ kind: 'Status', code, message }), {});

/**
 * An in-memory API server for the registrar's unit tests: Nodes and Leases with
 * resourceVersions, merge-patch semantics for what the registrar patches, and
 * failures on demand. (The real API server is in the end-to-end tests.)
 */
export class FakeNodeApi implements NodeApi {
  nodes = new Map<string, V1Node>();
  leases = new Map<string, V1Lease>();
  calls: string[] = [];
  /** Calls fail with this HTTP code while set. */
  failWith: number | undefined;
  private rv = 1;

  private record(call: string) {
    this.calls.push(call);
    if (this.failWith) throw apiError(this.failWith, `injected ${this.failWith}`);
  }

  async createNode(node: V1Node): Promise<V1Node> {
    this.record('createNode');
    const name = node.metadata?.name ?? '';
    if (this.nodes.has(name)) throw apiError(409, `nodes "${name}" already exists`);
    const stored = roundTrip({ ...node, metadata: { ...node.metadata, uid: `uid-${name}`, resourceVersion: String(this.rv++) } });
    this.nodes.set(name, stored);
    return roundTrip(stored);
  }

  /** What the watch shows: the stored Node while `watching`. */
  watching = false;

  watchNode(): void {
    // the store is always current
  }

  watchedNode(name: string): V1Node | undefined {
    const n = this.watching ? this.nodes.get(name) : undefined;
    return n && roundTrip(n);
  }

  async readNode(name: string): Promise<V1Node> {
    this.record('readNode');
    const n = this.nodes.get(name);
    if (!n) throw apiError(404, `nodes "${name}" not found`);
    return roundTrip(n);
  }

  async patchNodeStatus(name: string, patch: { metadata?: V1Node['metadata']; status?: V1Node['status'] }): Promise<V1Node> {
    this.record('patchNodeStatus');
    const n = this.nodes.get(name);
    if (!n) throw apiError(404, `nodes "${name}" not found`);
    const labels = { ...n.metadata?.labels };
    for (const [k, v] of Object.entries(patch.metadata?.labels ?? {})) {
      if (v === null) delete labels[k];
      else labels[k] = v;
    }
    const stored = roundTrip({
      ...n,
      metadata: { ...n.metadata, labels, annotations: { ...n.metadata?.annotations, ...patch.metadata?.annotations }, resourceVersion: String(this.rv++) },
      status: { ...n.status, ...patch.status },
    });
    this.nodes.set(name, stored);
    return roundTrip(stored);
  }

  async readLease(namespace: string, name: string): Promise<V1Lease> {
    this.record('readLease');
    const l = this.leases.get(`${namespace}/${name}`);
    if (!l) throw apiError(404, `leases "${name}" not found`);
    return roundTrip(l);
  }

  async createLease(namespace: string, lease: V1Lease): Promise<V1Lease> {
    this.record('createLease');
    const key = `${namespace}/${lease.metadata?.name}`;
    if (this.leases.has(key)) throw apiError(409, 'already exists');
    const stored = roundTrip({ ...lease, metadata: { ...lease.metadata, resourceVersion: String(this.rv++) } });
    this.leases.set(key, stored);
    return roundTrip(stored);
  }

  async replaceLease(namespace: string, name: string, lease: V1Lease): Promise<V1Lease> {
    this.record('replaceLease');
    const key = `${namespace}/${name}`;
    const current = this.leases.get(key);
    if (!current) throw apiError(404, 'not found');
    if (current.metadata?.resourceVersion !== lease.metadata?.resourceVersion) throw apiError(409, 'the object has been modified');
    const stored = roundTrip({ ...lease, metadata: { ...lease.metadata, resourceVersion: String(this.rv++) } });
    this.leases.set(key, stored);
    return roundTrip(stored);
  }
}

/** Through JSON, as the wire does (Dates become strings; read back as the client would get them). */
function roundTrip<T>(value: T): T {
  return JSON.parse(JSON.stringify(value)) as T;
}
