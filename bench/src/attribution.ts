import { FlowcontrolApiserverV1Api, type V1FlowSchema } from '@kubernetes/client-node';
import type { Cluster } from './kube';

/**
 * apiserver_request_total has no user label, so on its own it cannot say which
 * requests a node made. API Priority and Fairness can: every request is matched to
 * one FlowSchema and apiserver_flowcontrol_dispatched_requests_total counts per
 * schema. These schemas match only the node's user system:node:<name>, one per
 * (verb, resource) of interest, ahead of the built-in system-node-high (400) and
 * system-nodes (500), and send the requests to the same priority levels those use,
 * so the node is treated as before; a last one (450) catches the rest.
 */
interface Bucket {
  key: string;
  slug: string;
  precedence: number;
  level: 'system' | 'node-high';
  verbs: string[];
  apiGroups: string[];
  resources: string[];
  nonResource?: boolean;
}

const BUCKETS: Bucket[] = [
  { key: 'GET pods', slug: 'get-pods', precedence: 350, level: 'system', verbs: ['get'], apiGroups: [''], resources: ['pods'] },
  { key: 'LIST/WATCH pods', slug: 'list-pods', precedence: 350, level: 'system', verbs: ['list', 'watch'], apiGroups: [''], resources: ['pods'] },
  { key: 'PATCH/PUT pods/status', slug: 'patch-pods-status', precedence: 350, level: 'system', verbs: ['patch', 'update'], apiGroups: [''], resources: ['pods/status'] },
  { key: 'DELETE pods', slug: 'delete-pods', precedence: 350, level: 'system', verbs: ['delete'], apiGroups: [''], resources: ['pods'] },
  { key: 'POST events', slug: 'create-events', precedence: 350, level: 'system', verbs: ['create'], apiGroups: ['', 'events.k8s.io'], resources: ['events'] },
  { key: 'PATCH/PUT events', slug: 'patch-events', precedence: 350, level: 'system', verbs: ['patch', 'update'], apiGroups: ['', 'events.k8s.io'], resources: ['events'] },
  { key: 'POST serviceaccounts/token', slug: 'create-token', precedence: 350, level: 'system', verbs: ['create'], apiGroups: [''], resources: ['serviceaccounts/token'] },
  { key: 'Node and Lease (background)', slug: 'node-lease', precedence: 360, level: 'node-high', verbs: ['*'], apiGroups: ['', 'coordination.k8s.io'], resources: ['nodes', 'nodes/status', 'leases'] },
  { key: 'anything else', slug: 'other', precedence: 450, level: 'system', verbs: ['*'], apiGroups: ['*'], resources: ['*'], nonResource: true },
];

/** The per-pod writes among the buckets (what #7 asks to keep at or below the kubelet's). */
export const WRITE_KEYS = ['PATCH/PUT pods/status', 'DELETE pods', 'POST events', 'PATCH/PUT events', 'POST serviceaccounts/token'];
/** Everything but the node's background (Node, Lease). */
export const PER_POD_KEYS = BUCKETS.filter((b) => b.slug !== 'node-lease').map((b) => b.key);

export interface NodeAttribution {
  /** schema name → bucket key */
  schemas: Map<string, string>;
  remove(): Promise<void>;
}

export async function attributeNodeRequests(cluster: Cluster, nodeName: string): Promise<NodeAttribution> {
  const api = cluster.kc.makeApiClient(FlowcontrolApiserverV1Api);
  const schemas = new Map<string, string>();
  const remove = async () => {
    await Promise.all([...schemas.keys()].map((name) => api.deleteFlowSchema({ name }).catch(() => undefined)));
  };
  try {
    for (const b of BUCKETS) {
      const name = `splitlet-bench-${nodeName}-${b.slug}`;
      const body: V1FlowSchema = {
        metadata: { name, labels: { 'splitlet.bench': 'true' } },
        spec: {
          matchingPrecedence: b.precedence,
          priorityLevelConfiguration: { name: b.level },
          distinguisherMethod: { type: 'ByUser' },
          rules: [
            {
              subjects: [{ kind: 'User', user: { name: `system:node:${nodeName}` } }],
              resourceRules: [{ verbs: b.verbs, apiGroups: b.apiGroups, resources: b.resources, namespaces: ['*'], clusterScope: true }],
              ...(b.nonResource ? { nonResourceRules: [{ verbs: ['*'], nonResourceURLs: ['*'] }] } : {}),
            },
          ],
        },
      };
      await api.createFlowSchema({ body });
      schemas.set(name, b.key);
    }
  } catch (err) {
    await remove();
    throw err;
  }
  return { schemas, remove };
}
