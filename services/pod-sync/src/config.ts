import { commonSchema, evictionVariables, refineEviction } from '@splitlet/config';
import { z } from 'zod';
import { InvalidSysctlPatternError, SysctlAllowlist } from './sysctls';

/** A comma-separated list, blanks dropped. */
export const commaList = (v: string): string[] => v.split(',').map((s) => s.trim()).filter(Boolean);

export const configSchema = commonSchema.extend({
  /**
   * --eviction-hard, --eviction-soft, --eviction-soft-grace-period, --eviction-minimum-reclaim:
   * pod-sync's eviction manager evicts a pod when memory.available is below a threshold
   * (registrar reports the pressure conditions from the same settings: give both the same).
   */
  ...evictionVariables,
  /** --eviction-max-pod-grace-period: a soft eviction's longest grace period, in seconds (the kubelet's default 0). */
  SPLITLET_EVICTION_MAX_POD_GRACE_PERIOD: z.coerce.number().int().default(0),
  /** How often the eviction manager observes the node (the kubelet's evictionMonitoringPeriod, 10 s). */
  SPLITLET_EVICTION_MONITORING_MS: z.coerce.number().int().min(100).default(10_000),
  /** Where the host's / is (a container mounts it, e.g. /host): the eviction manager reads /proc/meminfo under it. */
  SPLITLET_HOST_ROOT: z.string().default('/'),
  /** The node's kubeconfig (identity system:node:<name>); unset: client-node's default search. */
  KUBECONFIG: z.string().optional(),
  /**
   * How often each pod is synced even without a change: after this plus up to half
   * of it (the kubelet's syncFrequency, 1 min, jitter 0.5); a sync that failed or
   * waits in a back-off is retried after 10 s (+ up to 5 s) or this when shorter.
   */
  SPLITLET_POD_RESYNC_MS: z.coerce.number().int().min(100).default(60_000),
  /** How long to wait for runtime-executor; a stop waits its grace period on top. */
  SPLITLET_RUNTIME_REQUEST_TIMEOUT_MS: z.coerce.number().int().min(100).default(30_000),
  /**
   * Between two syncs of a pod, how often its ConfigMap, Secret and projected volumes
   * are written again from their sources (only what changed is written): with the
   * object cache's TTL, how long a change takes to reach the files.
   */
  SPLITLET_VOLUME_REFRESH_MS: z.coerce.number().int().min(100).default(10_000),
  /** Cluster DNS for dnsPolicy ClusterFirst pods (the kubelet's --cluster-dns), comma-separated. */
  SPLITLET_CLUSTER_DNS: z.string().default(''),
  SPLITLET_CLUSTER_DOMAIN: z.string().default('cluster.local'),
  /** Where the pods' volumes live on the host: <dir>/pods/<uid>/volumes/<plugin>/<name> (the kubelet's root dir). */
  SPLITLET_DATA_DIR: z.string().default('/var/lib/splitlet'),
  /** How long a ConfigMap or Secret read is reused by the pods' syncs (changes show after at most this plus a resync). */
  SPLITLET_OBJECT_CACHE_TTL_MS: z.coerce.number().int().min(0).default(5_000),
  /** How often dead containers and sandboxes are garbage-collected (the kubelet's ContainerGCPeriod). */
  SPLITLET_CONTAINER_GC_PERIOD_MS: z.coerce.number().int().min(100).default(60_000),
  /**
   * Unsafe sysctls pods may set beside the safe ones (the kubelet's --allowed-unsafe-sysctls),
   * comma-separated names or prefixes ending in `*`, e.g. `kernel.msg*,net.core.somaxconn`.
   * A pod with any other sysctl is refused (SysctlForbidden).
   */
  SPLITLET_ALLOWED_UNSAFE_SYSCTLS: z
    .string()
    .default('')
    .superRefine((v, ctx) => {
      try {
        new SysctlAllowlist(commaList(v));
      } catch (err) {
        if (!(err instanceof InvalidSysctlPatternError)) throw err;
        ctx.addIssue({ code: 'custom', message: err.message });
      }
    }),
}).superRefine(refineEviction);

export type Config = z.infer<typeof configSchema>;
