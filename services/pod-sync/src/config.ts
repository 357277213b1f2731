import { commonSchema, evictionVariables, parsedVariable, refineEviction, replicaIdVariable } from '@splitlet/config';
import { POD_SYNC_SHARDS } from '@splitlet/bus';
import { shardSettingsErrors, type ShardSettings } from '@splitlet/service';
import { parseGoDuration } from '@splitlet/eviction';
import { z } from 'zod';
import { imageGCPolicyErrors, type ImageGCPolicy } from './image-gc';
import { migrateConfig, parseGracePeriodByPriority, shutdownSettingsErrors, type GracePeriodByPriority } from './node-shutdown';
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
  /** --image-gc-high-threshold: at or above this percent of the image filesystem in use, unused images are removed. */
  SPLITLET_IMAGE_GC_HIGH_THRESHOLD: z.coerce.number().int().default(85),
  /** --image-gc-low-threshold: the percent image garbage collection frees down to. */
  SPLITLET_IMAGE_GC_LOW_THRESHOLD: z.coerce.number().int().default(80),
  /** --image-minimum-gc-age: an image first seen less than this long ago is kept (a Go duration). */
  SPLITLET_IMAGE_MINIMUM_GC_AGE: parsedVariable(parseGoDuration, '2m'),
  /** --image-maximum-gc-age: an unused image unused for longer is removed whatever the disk; 0s: never (a Go duration). */
  SPLITLET_IMAGE_MAXIMUM_GC_AGE: parsedVariable(parseGoDuration, '0s'),
  /** How often images are detected and collected (the kubelet's ImageGCPeriod, a constant there). */
  SPLITLET_IMAGE_GC_PERIOD_MS: z.coerce.number().int().min(100).default(300_000),
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
  /**
   * Static pods: --pod-manifest-path (staticPodPath), a directory whose files (not
   * starting with a dot) each hold a Pod or a PodList in YAML or JSON, and
   * --manifest-url, one such manifest over HTTP(S); both read every
   * SPLITLET_FILE_CHECK_FREQUENCY_MS (the kubelet's fileCheckFrequency and
   * httpCheckFrequency, 20 s; a directory's change is seen at once too).
   */
  SPLITLET_STATIC_POD_PATH: z.string().default(''),
  SPLITLET_MANIFEST_URL: z.string().default(''),
  SPLITLET_FILE_CHECK_FREQUENCY_MS: z.coerce.number().int().min(100).default(20_000),
  /**
   * The graceful node shutdown (`npm run node:drain`): --shutdown-grace-period, the
   * time the node's pods get in all (a Go duration; 30s when neither this nor the
   * by-priority list is set: the kubelet's default is 0, no graceful shutdown), of
   * which --shutdown-grace-period-critical-pods (10s) is for the critical pods
   * (priority ≥ system-critical), terminated last.
   */
  SPLITLET_SHUTDOWN_GRACE_PERIOD: z.string().optional().transform(optionalDuration),
  SPLITLET_SHUTDOWN_GRACE_PERIOD_CRITICAL_PODS: z.string().optional().transform(optionalDuration),
  /**
   * --shutdown-grace-period-by-pod-priority instead of the two: `<priority>=<seconds>`
   * entries, comma-separated (e.g. `0=20,100000=10,2000000000=10`); each pod is in the
   * group of the highest priority not above its own, the lowest group terminated first.
   */
  SPLITLET_SHUTDOWN_GRACE_PERIOD_BY_POD_PRIORITY: parsedVariable(parseGracePeriodByPriority, ''),
  /**
   * This replica's id among the node's pod-syncs (its heartbeat in
   * SPLITLET_POD_SYNCS_<node>, the holder its shard keys name). Unset: random.
   */
  SPLITLET_POD_SYNC_REPLICA_ID: replicaIdVariable('pod-sync'),
  /**
   * How the replicas share the node's pods (by pod UID, POD_SYNC_SHARDS shards), as
   * status-reporter's share its status shards: a heartbeat every second, a replica
   * silent for 3 s is dead; a shard whose holder's heartbeat stood still for the lease
   * (5 s) is taken over at the next look (1 s); a holder whose heartbeats have not
   * landed for the renew deadline (3 s) stops syncing its pods first. A replica that
   * stops lets its shards go at once.
   */
  SPLITLET_POD_SYNC_HEARTBEAT_MS: z.coerce.number().int().min(1).default(1_000),
  SPLITLET_POD_SYNC_REPLICA_TTL_MS: z.coerce.number().int().min(1).default(3_000),
  SPLITLET_POD_SYNC_SHARD_LEASE_MS: z.coerce.number().int().min(1).default(5_000),
  SPLITLET_POD_SYNC_SHARD_RENEW_DEADLINE_MS: z.coerce.number().int().min(1).default(3_000),
  SPLITLET_POD_SYNC_SHARD_RETRY_MS: z.coerce.number().int().min(1).default(1_000),
})
  .superRefine((c, ctx) => {
    for (const message of shardSettingsErrors(shardSettings(c))) ctx.addIssue({ code: 'custom', message, path: ['SPLITLET_POD_SYNC_SHARD_RENEW_DEADLINE_MS'] });
  })
  .superRefine(refineEviction)
  .superRefine((c, ctx) => {
    // The periods as they apply (30s / 10s when unset), or as given beside a by-priority list.
    const byPriority = c.SPLITLET_SHUTDOWN_GRACE_PERIOD_BY_POD_PRIORITY;
    const period = c.SPLITLET_SHUTDOWN_GRACE_PERIOD ?? (byPriority.length ? 0 : 30_000);
    const critical = c.SPLITLET_SHUTDOWN_GRACE_PERIOD_CRITICAL_PODS ?? (byPriority.length || c.SPLITLET_SHUTDOWN_GRACE_PERIOD !== undefined ? 0 : 10_000);
    const errors = shutdownSettingsErrors({ byPriority, gracePeriodSeconds: period / 1000, criticalSeconds: critical / 1000 });
    for (const message of errors) ctx.addIssue({ code: 'custom', path: ['SPLITLET_SHUTDOWN_GRACE_PERIOD'], message });
  })
  .superRefine((c, ctx) => {
    for (const message of imageGCPolicyErrors(imageGCPolicyOf(c))) ctx.addIssue({ code: 'custom', path: ['SPLITLET_IMAGE_GC_LOW_THRESHOLD'], message: `invalid configuration: ${message}` });
  });

export type Config = z.infer<typeof configSchema>;

/** A Go duration in ms, or undefined when unset (the refinements report a bad one). */
function optionalDuration(text: string | undefined, ctx: z.RefinementCtx): number | undefined {
  if (text === undefined || text.trim() === '') return undefined;
  try {
    return parseGoDuration(text);
  } catch (err) {
    ctx.addIssue({ code: 'custom', message: (err as Error).message });
    return z.NEVER;
  }
}

/** The node shutdown's priority groups: the by-priority list, else the two periods (30s / 10s when unset) migrated. */
export function shutdownPeriodsOf(c: Pick<Config, 'SPLITLET_SHUTDOWN_GRACE_PERIOD' | 'SPLITLET_SHUTDOWN_GRACE_PERIOD_CRITICAL_PODS' | 'SPLITLET_SHUTDOWN_GRACE_PERIOD_BY_POD_PRIORITY'>): GracePeriodByPriority[] {
  if (c.SPLITLET_SHUTDOWN_GRACE_PERIOD_BY_POD_PRIORITY.length) return c.SPLITLET_SHUTDOWN_GRACE_PERIOD_BY_POD_PRIORITY;
  // Unset, both take the defaults; a period given alone has no critical share (the kubelet's 0).
  const explicit = c.SPLITLET_SHUTDOWN_GRACE_PERIOD !== undefined;
  const period = (c.SPLITLET_SHUTDOWN_GRACE_PERIOD ?? 30_000) / 1000;
  const critical = (c.SPLITLET_SHUTDOWN_GRACE_PERIOD_CRITICAL_PODS ?? (explicit ? 0 : 10_000)) / 1000;
  return migrateConfig(period, critical);
}

/** The image garbage collection policy the settings make. */
export function imageGCPolicyOf(c: Pick<Config, 'SPLITLET_IMAGE_GC_HIGH_THRESHOLD' | 'SPLITLET_IMAGE_GC_LOW_THRESHOLD' | 'SPLITLET_IMAGE_MINIMUM_GC_AGE' | 'SPLITLET_IMAGE_MAXIMUM_GC_AGE'>): ImageGCPolicy {
  return {
    highThresholdPercent: c.SPLITLET_IMAGE_GC_HIGH_THRESHOLD,
    lowThresholdPercent: c.SPLITLET_IMAGE_GC_LOW_THRESHOLD,
    minAgeMs: c.SPLITLET_IMAGE_MINIMUM_GC_AGE,
    maxAgeMs: c.SPLITLET_IMAGE_MAXIMUM_GC_AGE,
  };
}

/** How the replicas share the node's pods (POD_SYNC_SHARDS, a contract of the bus). */
export function shardSettings(
  c: Pick<Config, 'SPLITLET_POD_SYNC_REPLICA_ID' | 'SPLITLET_POD_SYNC_HEARTBEAT_MS' | 'SPLITLET_POD_SYNC_REPLICA_TTL_MS' | 'SPLITLET_POD_SYNC_SHARD_LEASE_MS' | 'SPLITLET_POD_SYNC_SHARD_RENEW_DEADLINE_MS' | 'SPLITLET_POD_SYNC_SHARD_RETRY_MS'>,
): ShardSettings {
  return {
    id: c.SPLITLET_POD_SYNC_REPLICA_ID,
    shards: POD_SYNC_SHARDS,
    heartbeatMs: c.SPLITLET_POD_SYNC_HEARTBEAT_MS,
    ttlMs: c.SPLITLET_POD_SYNC_REPLICA_TTL_MS,
    leaseMs: c.SPLITLET_POD_SYNC_SHARD_LEASE_MS,
    renewDeadlineMs: c.SPLITLET_POD_SYNC_SHARD_RENEW_DEADLINE_MS,
    retryMs: c.SPLITLET_POD_SYNC_SHARD_RETRY_MS,
  };
}
