import { commonSchema } from '@splitlet/config';
import { z } from 'zod';

export const configSchema = commonSchema.extend({
  /** The node's kubeconfig (identity system:node:<name>); unset: client-node's default search. */
  KUBECONFIG: z.string().optional(),
  /** How often every pod is synced even without a change (the kubelet's resync). */
  SPLITLET_POD_RESYNC_MS: z.coerce.number().int().min(100).default(10_000),
  /** How long to wait for runtime-executor; a stop waits its grace period on top. */
  SPLITLET_RUNTIME_REQUEST_TIMEOUT_MS: z.coerce.number().int().min(100).default(30_000),
  /** Cluster DNS for dnsPolicy ClusterFirst pods (the kubelet's --cluster-dns), comma-separated. */
  SPLITLET_CLUSTER_DNS: z.string().default(''),
  SPLITLET_CLUSTER_DOMAIN: z.string().default('cluster.local'),
  /** Where the pods' volumes live on the host: <dir>/pods/<uid>/volumes/<plugin>/<name> (the kubelet's root dir). */
  SPLITLET_DATA_DIR: z.string().default('/var/lib/splitlet'),
  /** How long a ConfigMap or Secret read is reused by the pods' syncs (changes show after at most this plus a resync). */
  SPLITLET_OBJECT_CACHE_TTL_MS: z.coerce.number().int().min(0).default(5_000),
  /** How often dead containers and sandboxes are garbage-collected (the kubelet's ContainerGCPeriod). */
  SPLITLET_CONTAINER_GC_PERIOD_MS: z.coerce.number().int().min(100).default(60_000),
});

export type Config = z.infer<typeof configSchema>;
